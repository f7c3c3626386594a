# The two commands of the README: `make demo` and `make test`.
.PHONY: demo test deps build

# Start a server on the embedded SQLite default, with demo clients.
demo:
	swift run warden serve --demo

# Everything: Swift unit, store and HTTP tests, then the Python interop suite
# against the real binary.
test: deps build
	swift test --skip-build
	WARDEN_BINARY=$(CURDIR)/.build/debug/warden python3 -m pytest Tests/Interop -q

deps:
	Tests/Support/install-dependencies.sh

build:
	swift build --build-tests
