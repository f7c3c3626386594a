# The two commands of the README: `make demo` and `make test` (and `make bench`).
.PHONY: demo test deps build bench fuzz

# Start a server on the embedded SQLite default, with demo clients.
demo:
	swift run warden serve --demo

# Everything: Swift unit, store and HTTP tests, a few-second smoke run of the
# benchmark, the Python interop, bad-input, security and crash suites against the
# real binary, then 30 s of fuzzing per parser. The Swift and Python tests share one
# throwaway PostgreSQL cluster (WARDEN_TEST_POSTGRES_URL), stopped and removed after.
test: deps build
	Tests/Support/with-postgres.sh sh -ec ' \
		swift test --skip-build; \
		python3 Tests/Benchmarks/bench.py --smoke > /dev/null; \
		WARDEN_BINARY=$(CURDIR)/.build/debug/warden python3 -m pytest Tests/Interop -q'
	Tests/Fuzz/run.sh 30

# The load benchmark on the release build; writes Tests/Benchmarks/results/.
bench: deps
	python3 Tests/Benchmarks/bench.py

# Longer fuzzing: FUZZ_SECONDS per target (default 600).
fuzz:
	Tests/Fuzz/run.sh $${FUZZ_SECONDS:-600}

deps:
	Tests/Support/install-dependencies.sh

build:
	swift build --build-tests
