# tests/cases.cmake — the list of test programs and their cases.
#
# One call per test file tests/<file-stem>.c:
#
#   goc_test(<file-stem> CASES <case>... [LABELS <label>...] [TIMEOUT <seconds>])
#
# The program is run as `<file-stem> <case>` (argv[1] selects the case) once
# with GOCMAXPROCS=1 and once with GOCMAXPROCS=2; CTest names the two runs
# <file-stem minus "test_">.<case>.p1 and .p2. Exit status 0 means pass.
# tests/testing.c, when present, is linked into every test program.
#
# Labels in use:
#   aarch64   also run by `make test-aarch64` (cross build under qemu): keep it quick
#   notsan    skipped by `make test-race`  (e.g. needs signals TSan will not deliver)
#   noasan    skipped by `make test-asan`  (e.g. a million goroutines)
# TIMEOUT defaults to 120 s (scaled up under sanitizers and qemu).
#
# Example:
#   goc_test(test_chan CASES unbuffered buffered close nil LABELS aarch64)
#   goc_test(test_skynet CASES skynet LABELS noasan TIMEOUT 300)
