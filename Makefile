# The two commands of the README: `make demo` and `make test` (and `make bench`).
.PHONY: demo test deps build bench

# Start a server on the embedded SQLite default, with demo clients.
demo:
	swift run warden serve --demo

# Everything: Swift unit, store and HTTP tests, a few-second smoke run of the
# benchmark, then the Python interop suite against the real binary.
test: deps build
	swift test --skip-build
	python3 Tests/Benchmarks/bench.py --smoke > /dev/null
	WARDEN_BINARY=$(CURDIR)/.build/debug/warden python3 -m pytest Tests/Interop -q

# The load benchmark on the release build; writes Tests/Benchmarks/results/.
bench: deps
	python3 Tests/Benchmarks/bench.py

deps:
	Tests/Support/install-dependencies.sh

build:
	swift build --build-tests
