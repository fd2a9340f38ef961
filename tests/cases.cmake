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

# ---------------------------------------------------------------------------
# test_runtime.c — the runtime core: goroutines, goc_run, yield, Goexit, ids,
# NumGoroutine, GOCMAXPROCS, LockOSThread, stacks, panics and fatal errors,
# WaitGroup, out-of-memory injection.
goc_test(test_runtime
    CASES
        go_runs_function_with_arg run_returns_value run_called_repeatedly
        run_returns_while_other_goroutines_live go_before_run_starts_runtime
        yield_lets_others_run yield_loops_all_complete yield_on_plain_thread_returns
        exit_stops_only_that_goroutine exit_while_locked_to_thread
        ids_unique_and_nonzero main_goroutine_id_nonzero run_main_goroutines_get_new_ids
        id_zero_on_plain_thread
        num_goroutine_exact num_goroutine_counts_runnable num_goroutine_zero_when_idle
        maxprocs_query_matches_env maxprocs_from_environment maxprocs_set_returns_previous
        work_spreads_over_two_processors maxprocs_raise_takes_effect
        maxprocs_lower_takes_effect maxprocs_changes_during_stress
        million_blocked_goroutines spawn_100k_from_plain_thread
        spawn_from_threads_and_goroutine_at_once no_lost_wakeups_rounds nested_spawn_tree
        go_args_copied_before_return go_args_large_block_copied go_macro_compound_literal
        go_args_zero_size
        go_sized_large_stack go_sized_small_stack go_sized_zero_is_default stacks_are_distinct
        panic_prints_message_and_backtrace panic_in_main_goroutine panic_shows_goroutine_name
        set_name_on_plain_thread_is_harmless
        stack_overflow_is_fatal_error stack_overflow_small_stack_is_fatal_error
        lock_os_thread_keeps_thread lock_os_thread_nests lock_os_thread_main_goroutine
        lock_os_thread_on_plain_thread_is_harmless
        wg_negative_counter_panics wg_reuse_after_wait wg_wait_at_zero_returns
        wg_wait_at_zero_returns_on_plain_thread wg_wait_from_plain_thread
        wg_many_waiters_released wg_go_runs_and_signals wg_go_from_plain_thread
        go_enomem_when_g_alloc_fails go_enomem_when_stack_alloc_fails
    TIMEOUT 120)

# Per-case labels (goc_test's LABELS apply to a whole program):
#   heavy    multi-second cases (a million parked goroutines: ~10 s, ~4.3 GiB RSS)
#   aarch64  a quick subset run under qemu by `make test-aarch64`
set(_goc_runtime_heavy million_blocked_goroutines)
set(_goc_runtime_aarch64
    go_runs_function_with_arg run_returns_value yield_lets_others_run
    exit_stops_only_that_goroutine ids_unique_and_nonzero id_zero_on_plain_thread
    go_args_copied_before_return go_macro_compound_literal
    wg_reuse_after_wait wg_wait_from_plain_thread wg_go_runs_and_signals
    wg_negative_counter_panics panic_prints_message_and_backtrace lock_os_thread_keeps_thread)
math(EXPR _goc_runtime_heavy_timeout "600 * ${GOC_TEST_TIMEOUT_SCALE}")
foreach(_procs 1 2)
    foreach(_case IN LISTS _goc_runtime_heavy)
        set_property(TEST "runtime.${_case}.p${_procs}" APPEND PROPERTY LABELS heavy)
        set_tests_properties("runtime.${_case}.p${_procs}" PROPERTIES
            TIMEOUT "${_goc_runtime_heavy_timeout}")
    endforeach()
    foreach(_case IN LISTS _goc_runtime_aarch64)
        set_property(TEST "runtime.${_case}.p${_procs}" APPEND PROPERTY LABELS aarch64)
    endforeach()
endforeach()
# A million parked goroutines hold several GiB: never two at once.
set_tests_properties(runtime.million_blocked_goroutines.p1 runtime.million_blocked_goroutines.p2
    PROPERTIES RESOURCE_LOCK goc_memory_hog)
# Cross builds: death tests re-execute the test program, which needs the
# emulator when qemu-user is not registered with binfmt_misc.
if(CMAKE_CROSSCOMPILING_EMULATOR)
    string(JOIN " " _goc_emulator ${CMAKE_CROSSCOMPILING_EMULATOR})
    get_property(_goc_runtime_tests DIRECTORY PROPERTY TESTS)
    foreach(_t IN LISTS _goc_runtime_tests)
        if(_t MATCHES "^runtime\\.")
            set_property(TEST "${_t}" APPEND PROPERTY ENVIRONMENT "GOC_TEST_EMULATOR=${_goc_emulator}")
        endif()
    endforeach()
endif()
