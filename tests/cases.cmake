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
# CASES must be exactly the TEST and GTEST cases of the file (what
# `<file-stem> --list` prints; CHILD cases are not listed): the CTest test
# cases.<file-stem minus "test_"> fails, naming the case, when a case is
# missing here, misspelt, listed twice, or gone from the file; and a
# tests/test_*.c without a goc_test() call here fails cases.<its name>.
#
# Labels in use:
#   aarch64   also run by `make test-aarch64` (cross build under qemu): keep it quick
#   notsan    skipped by `make test-race`  (e.g. needs signals TSan will not deliver)
#   noasan    skipped by `make test-asan`  (e.g. a million goroutines)
#   cases     the cases.<name> checks above (also labelled aarch64)
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

# ---------------------------------------------------------------------------
# test_sched_runnext.c — runnext filled by a plain release store while
# stealers CAS it away, a displaced runnext queued without a wakeup, and the
# global run queue's chunks (issue 13).
goc_test(test_sched_runnext
    CASES runnext_stolen_while_owner_stores readied_pair_runs_while_readier_keeps_running
          select_chains_lose_no_message_at_four_processors
          global_queue_chunks_run_every_goroutine_once
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_time.c — package time: goc_now, goc_sleep, goc_after, timers (Go 1.23
# Stop/Reset: no stale values), AfterFunc, tickers, select with timeouts,
# idle sleeping in the kernel, a Stop/Reset stress.
set(_goc_time_cases
        now_is_monotonic now_is_monotonic_across_goroutine_switches
        sleep_in_goroutine_at_least_d sleep_on_plain_thread_at_least_d
        sleep_on_other_plain_thread_while_runtime_runs
        sleep_nonpositive_returns_in_goroutine sleep_nonpositive_returns_on_plain_thread
        many_sleepers_all_wake_never_early
        timers_fire_in_deadline_order timer_values_follow_deadline_order
        after_delivers_time_not_before_deadline after_on_plain_thread
        after_nonpositive_fires_at_once after_released_before_firing
        timer_fires_once timer_stop_before_firing timer_stop_after_firing_returns_false
        timer_stop_drops_unreceived_value timer_reset_drops_unreceived_value
        timer_reset_returns_whether_pending timer_reset_moves_deadline
        timer_zero_duration_fires_at_once timer_free_while_pending timer_on_plain_thread
        timer_stopped_from_other_goroutine timer_stopped_from_plain_thread
        after_func_runs_in_own_goroutine after_func_from_plain_thread
        after_func_stop_prevents_call after_func_reset_rearms
        ticker_ticks_at_period ticker_drops_ticks_for_slow_receiver
        ticker_reset_changes_period ticker_stop_stops_ticking ticker_on_plain_thread
        ticker_nonpositive_interval_panics
        select_timeout_case_fires select_ready_value_beats_timeout
        timeout_with_quit_pattern timeout_then_quit_stops_producer
        idle_sleep_uses_no_cpu no_goroutine_left_after_timers
        channel_timers_fired_while_idle_keep_lone_rings
        timer_value_reaches_goroutine_that_never_parks
        stress_concurrent_reset_stop_receive)
goc_test(test_time CASES ${_goc_time_cases} TIMEOUT 60)
# aarch64: every case but the CPU-time one (qemu's own translation work is
# process CPU time too).
set(_goc_time_aarch64 ${_goc_time_cases})
list(REMOVE_ITEM _goc_time_aarch64 idle_sleep_uses_no_cpu)

# ---------------------------------------------------------------------------
# test_sched_getm.c — getm inline and read afresh after every goc call that
# may move the goroutine (issue 13).
goc_test(test_sched_getm CASES getm_fresh_after_migration TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_deadlock.c — the deadlock detector (reports and the absence of false
# ones), goc_dump and SIGQUIT dumps. Reports come from child processes.
# qemu-user shows 0 threads in /proc/self/stat, so the detector stays silent
# there: the report cases are not labelled aarch64.
goc_test(test_deadlock
    CASES
        report_main_blocked_on_receive report_main_blocked_on_send
        report_main_blocked_on_full_buffer report_lists_every_blocked_goroutine
        report_select_no_cases report_select_blocked
        report_receive_on_nil_channel report_send_on_nil_channel
        report_after_main_sleeps_then_blocks
        no_report_while_main_sleeps no_report_while_plain_thread_works
        no_report_while_timer_pending no_report_while_timers_fire
        no_report_while_goroutine_sleeps
        no_report_while_after_func_pending no_report_after_main_returned
        no_report_without_main_goroutine
        dump_lists_goroutines_with_state_and_backtrace dump_from_plain_thread
        sigquit_dumps_goroutines_and_exits_2 sigquit_while_idle
    TIMEOUT 60)
set(_goc_deadlock_aarch64
    no_report_while_main_sleeps no_report_while_plain_thread_works
    no_report_while_timer_pending no_report_while_goroutine_sleeps
    no_report_while_after_func_pending no_report_after_main_returned
    no_report_without_main_goroutine
    dump_lists_goroutines_with_state_and_backtrace dump_from_plain_thread
    sigquit_dumps_goroutines_and_exits_2 sigquit_while_idle)

foreach(_procs 1 2)
    foreach(_case IN LISTS _goc_time_aarch64)
        set_property(TEST "time.${_case}.p${_procs}" APPEND PROPERTY LABELS aarch64)
    endforeach()
    foreach(_case IN LISTS _goc_deadlock_aarch64)
        set_property(TEST "deadlock.${_case}.p${_procs}" APPEND PROPERTY LABELS aarch64)
    endforeach()
endforeach()
if(CMAKE_CROSSCOMPILING_EMULATOR)
    string(JOIN " " _goc_emulator ${CMAKE_CROSSCOMPILING_EMULATOR})
    get_property(_goc_time_tests DIRECTORY PROPERTY TESTS)
    foreach(_t IN LISTS _goc_time_tests)
        if(_t MATCHES "^(time|deadlock)\\.")
            set_property(TEST "${_t}" APPEND PROPERTY ENVIRONMENT "GOC_TEST_EMULATOR=${_goc_emulator}")
        endif()
    endforeach()
endif()

# ---------------------------------------------------------------------------
# test_sched_switch.c — goroutines entered by a call and left by a return
# (issue 13). Arch-dependent (switch_<arch>.S): also run under qemu.
goc_test(test_sched_switch
    CASES start_and_exit_switches_chain fresh_goroutine_fp_control_defaults
    LABELS aarch64 TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_chan.c — channels: FIFO order per capacity, exact delivery under many
# senders and receivers, close semantics and its panics, the nil channel,
# chan struct{}, len/cap, absurd sizes, large elements, reference counts,
# plain threads talking to goroutines, Go's prime sieve, and one stress case
# per race of the buffered channels' lock-free ring (ring_*), the lone
# processor's plain ring operations among them (ring_lone_*).
goc_test(test_chan
    CASES
        fifo_order_unbuffered fifo_order_cap1 fifo_order_cap2 fifo_order_cap10
        fifo_order_cap100
        many_senders_receivers_exact_unbuffered many_senders_receivers_exact_cap16
        close_drains_buffer_then_zero_false close_unbuffered_recv_returns_zero_false
        close_wakes_all_blocked_receivers_unbuffered close_wakes_all_blocked_receivers_buffered
        close_makes_blocked_sender_panic send_on_closed_panics
        send_on_closed_panics_on_plain_thread close_of_closed_panics close_of_nil_panics
        nil_recv_blocks_forever nil_send_blocks_forever nil_len_cap_zero
        zero_size_elements_buffered zero_size_elements_unbuffered
        len_and_cap absurd_sizes_return_null recv_null_out_discards
        large_elements_copied_intact_unbuffered large_elements_copied_intact_buffered
        small_elements_every_size_unbuffered small_elements_every_size_buffered
        release_with_blocked_goroutine_panics retain_release_counting
        retain_per_goroutine_last_release_frees
        plain_threads_send_goroutines_receive goroutines_send_plain_threads_receive
        plain_thread_goroutine_ping_pong main_goroutine_ping_pong_with_plain_thread
        prime_sieve_first_100
        ring_mpmc_exact_cap1 ring_mpmc_exact_cap2 ring_mpmc_exact_cap7
        ring_receivers_park_while_fast_sends ring_senders_park_while_fast_receives
        ring_parked_sender_keeps_fifo ring_close_races_receivers
        ring_close_delivers_buffered_then_false ring_plain_threads_and_goroutines_exact
        ring_close_while_send_in_flight_delivers_it
        ring_send_to_parked_receiver_is_never_in_flight
        ring_lone_traffic_exact_when_plain_thread_joins
        ring_lone_traffic_exact_when_blocking_call_joins
        ring_lone_traffic_exact_when_maxprocs_grows ring_lone_traffic_exact_beside_ticker
        ring_lone_sharer_waits_out_a_plain_send
    TIMEOUT 60)
set(_goc_chan_aarch64
    fifo_order_unbuffered fifo_order_cap10 close_drains_buffer_then_zero_false
    close_wakes_all_blocked_receivers_unbuffered close_makes_blocked_sender_panic
    close_of_closed_panics nil_recv_blocks_forever zero_size_elements_unbuffered
    large_elements_copied_intact_buffered plain_thread_goroutine_ping_pong
    prime_sieve_first_100
    ring_mpmc_exact_cap1 ring_mpmc_exact_cap7 ring_receivers_park_while_fast_sends
    ring_senders_park_while_fast_receives ring_parked_sender_keeps_fifo
    ring_close_races_receivers ring_close_delivers_buffered_then_false
    ring_close_while_send_in_flight_delivers_it
    ring_send_to_parked_receiver_is_never_in_flight
    ring_lone_traffic_exact_when_plain_thread_joins ring_lone_traffic_exact_when_maxprocs_grows)

# ---------------------------------------------------------------------------
# test_sched_lone.c — the lone processor's queue without atomics while
# goc_maxprocs grows and its owner changes threads (issue 13).
goc_test(test_sched_lone
    CASES lone_queue_maxprocs_grows_while_busy lone_queue_owner_changes_threads
          lone_queue_regained_after_maxprocs_shrinks maxprocs_shrink_retires_busy_processor
          lone_yielders_spread_after_maxprocs_grows
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_select.c — select: uniform choice among ready cases, goc_select_try,
# send and receive cases together, one channel twice, nil cases, never
# matching itself, stress with exact counts, closed channels and their
# panics, 100 cases, racing senders, plain threads, large elements.
goc_test(test_select
    CASES
        uniform_among_two_ready uniform_among_four_ready uniform_among_four_ready_sends
        uniform_among_ready_subsets
        try_returns_minus_one_when_nothing_ready try_never_defaults_when_a_case_is_ready
        try_receives_from_parked_sender
        send_and_recv_cases_together
        same_channel_twice_recv_buffered same_channel_twice_recv_blocking
        same_channel_twice_recv_blocking_large_select same_channel_send_and_recv_buffered
        nil_cases_never_fire_ready_path nil_cases_never_fire_blocking_path
        try_all_nil_returns_minus_one all_nil_blocks_forever zero_cases_blocks_forever
        never_matches_itself two_selects_pair_never_self
        stress_select_receivers_exact stress_select_receivers_exact_four_procs
        stress_select_senders_exact stress_select_both_sides_exact
        recv_on_closed_reports_not_ok_and_zeroes close_wakes_blocked_select
        send_case_on_closed_panics close_makes_blocked_select_send_panic
        many_cases two_racing_senders_one_wins select_on_plain_thread
        large_elements_through_select
        stress_select_buffered_with_fast_ops_cap1 stress_select_buffered_with_fast_ops_cap3
        stress_select_buffered_with_fast_ops_four_procs
    TIMEOUT 60)
set(_goc_select_aarch64
    uniform_among_four_ready try_never_defaults_when_a_case_is_ready
    send_and_recv_cases_together same_channel_twice_recv_blocking
    nil_cases_never_fire_blocking_path never_matches_itself
    recv_on_closed_reports_not_ok_and_zeroes close_wakes_blocked_select
    send_case_on_closed_panics many_cases two_racing_senders_one_wins
    select_on_plain_thread stress_select_buffered_with_fast_ops_cap1
    stress_select_buffered_with_fast_ops_cap3)

foreach(_procs 1 2)
    foreach(_case IN LISTS _goc_chan_aarch64)
        set_property(TEST "chan.${_case}.p${_procs}" APPEND PROPERTY LABELS aarch64)
    endforeach()
    foreach(_case IN LISTS _goc_select_aarch64)
        set_property(TEST "select.${_case}.p${_procs}" APPEND PROPERTY LABELS aarch64)
    endforeach()
endforeach()
# Death tests re-execute the program: under qemu-user they need the emulator.
if(CMAKE_CROSSCOMPILING_EMULATOR)
    string(JOIN " " _goc_emulator ${CMAKE_CROSSCOMPILING_EMULATOR})
    get_property(_goc_chan_tests DIRECTORY PROPERTY TESTS)
    foreach(_t IN LISTS _goc_chan_tests)
        if(_t MATCHES "^(chan|select)\\.")
            set_property(TEST "${_t}" APPEND PROPERTY ENVIRONMENT "GOC_TEST_EMULATOR=${_goc_emulator}")
        endif()
    endforeach()
endif()

# ---------------------------------------------------------------------------
# test_sched_park.c — gopark's waitsince from sysmon's tick (issue 13).
goc_test(test_sched_park CASES park_waitsince_after_idle TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_xsync.c — x/sync: errgroup (first error, cancellation, limits, try_go,
# spawn failures) and the weighted semaphore (FIFO, ctx cancel/timeout, the
# grant/cancel race, accounting under stress).
goc_test(test_xsync
    CASES
        eg_wait_returns_zero_when_all_succeed eg_first_error_cancels_siblings
        eg_first_error_wins eg_wait_cancels_ctx eg_parent_cancel_reaches_group_ctx
        eg_null_parent eg_limit_bounds_concurrency eg_go_blocks_at_limit
        eg_try_go_refuses_at_limit eg_try_go_without_limit_always_starts
        eg_limit_zero_refuses_try_go eg_set_limit_while_active_panics
        eg_set_limit_allowed_without_active_limit eg_nested_go_waited_for
        eg_on_plain_thread eg_spawn_failure_is_group_error eg_free_while_active_panics
        sema_try_acquire sema_acquire_free_units_at_once sema_bad_arguments
        sema_fifo_big_request_first sema_acquire_done_ctx_fails_at_once
        sema_acquire_honours_cancel sema_acquire_honours_timeout
        sema_canceled_head_lets_followers_in sema_oversize_request_waits_for_ctx
        sema_release_more_than_held_panics sema_acquire_on_plain_thread
        sema_grant_cancel_race_keeps_accounting sema_stress_exact_accounting
        sema_free_while_waiting_panics
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_context.c — package context: roots, cancel and its propagation through
# a tree, deadlines (capped by the parent's), causes, values, without_cancel,
# AfterFunc, release (cancels and detaches), cancel storms.
goc_test(test_context
    CASES
        background_and_todo_never_canceled with_cancel_cancel_closes_done
        cancel_is_idempotent cancel_propagates_to_every_descendant
        cancel_child_leaves_parent_and_siblings
        cancel_returns_after_subtree_canceled_under_concurrent_cancel
        deep_chain_cancel_and_release
        deadline_in_past_starts_timed_out deadline_now_starts_timed_out
        timeout_fires_never_early child_deadline_capped_by_parent
        child_of_canceled_parent_starts_canceled
        cancel_cause_first_cause_wins cause_equals_err_without_cause
        value_lookup_walks_to_root value_nearest_binding_wins value_missing_key_is_null
        value_ctx_follows_parent_cancellation value_nil_key_panics
        without_cancel_keeps_values_drops_cancellation
        after_func_runs_once_in_own_goroutine_after_cancel after_func_every_registration_runs
        after_func_runs_at_once_if_already_canceled after_func_stop_before_cancel_prevents_call
        after_func_stop_after_run_returns_false after_func_on_never_canceled_ctx
        after_func_stop_twice_is_safe timeout_cause_and_deadline_cause
        extreme_deadlines_do_not_overflow
        after_func_runs_on_last_release
        release_last_ref_cancels_and_wakes_waiter
        cancel_by_non_holder_while_holder_releases_on_done release_parent_before_child
        release_detaches_from_parent_no_growth cancel_storm_tree
    TIMEOUT 120)

# test_context_wait.c — the blocking calls that take a context: sleep, send,
# receive, WaitGroup wait and Mutex lock, with nothing left behind.
goc_test(test_context_wait
    CASES
        sleep_ctx_full_sleep_returns_zero sleep_ctx_returns_early_on_cancel
        sleep_ctx_returns_early_on_timeout sleep_ctx_on_plain_thread
        send_ctx_success send_ctx_cancel_leaves_value_unsent send_ctx_on_closed_channel_panics
        recv_ctx_success recv_ctx_closed_channel_ok_false
        recv_ctx_cancel_leaves_value_unreceived recv_ctx_on_plain_thread
        no_goroutine_left_behind
        wg_wait_ctx_returns_zero_when_group_finishes wg_wait_ctx_returns_ctx_error_first
        mutex_lock_ctx_acquires_free_and_contended_mutex mutex_lock_ctx_timeout_leaves_mutex_usable
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# Package sync, one file per type. Goroutines and plain threads are mixed
# wherever both may call.
#
# test_mutex.c — Mutex: exclusion with exact counts, TryLock, misuse panics,
# parking, starvation mode, hand-offs between plain threads.
goc_test(test_mutex
    CASES
        mutex_zero_value_lock_unlock mutex_on_plain_thread_without_runtime
        mutex_exclusion_goroutines_exact mutex_exclusion_goroutines_and_threads_exact
        mutex_exclusion_short_sections_exact mutex_trylock mutex_unlock_of_unlocked_panics
        mutex_unlocked_by_another_goroutine mutex_waiter_parks_goroutine_not_thread
        mutex_starvation_mode_bounds_wait mutex_starvation_mode_ends
        mutex_many_parked_waiters_all_proceed mutex_handoffs_between_plain_threads_are_no_deadlock
    TIMEOUT 120)

# test_rwmutex.c — RWMutex: shared readers, exclusive writers, writer
# preference, TryLock/TryRLock, misuse.
goc_test(test_rwmutex
    CASES
        rwmutex_zero_value_on_plain_thread rwmutex_readers_hold_lock_together
        rwmutex_writer_excludes_readers_and_writers rwmutex_waiting_writer_blocks_new_readers
        rwmutex_trylock_and_tryrlock rwmutex_unlock_admits_all_queued_readers
        rwmutex_misuse_panics
    TIMEOUT 120)

# test_once.c — Once: one call, concurrent callers wait for it, its effects
# visible to all.
goc_test(test_once
    CASES
        once_runs_once_concurrent_callers_wait_for_it once_later_calls_do_nothing
        once_effects_visible_to_all_callers
    TIMEOUT 120)

# test_cond.c — Cond: FIFO Signal, Broadcast, re-locking, plain threads, a
# bounded queue, the static initializer, misuse.
goc_test(test_cond
    CASES
        cond_signal_wakes_one_waiter_in_fifo_order cond_signal_wakes_exactly_one
        cond_broadcast_wakes_all cond_notify_without_waiters_is_not_remembered
        cond_wait_reacquires_mutex cond_with_plain_threads cond_bounded_queue_exact_transfer
        cond_static_initializer cond_misuse_panics
    TIMEOUT 120)

# test_pool.c — Pool: per-P caches, dropping, destroy, accounting under
# stress, allocation failure.
goc_test(test_pool
    CASES
        pool_get_calls_new_when_empty pool_put_then_get_returns_same_item
        pool_full_cache_drops_with_free_fn pool_destroy_frees_every_cached_item
        pool_zero_value_and_null_functions pool_plain_thread_steals_and_stashes
        pool_concurrent_get_put_accounting pool_allocation_failure_falls_back
    TIMEOUT 120)

# test_map.c — Map: Go's semantics, copied binary keys, a differential test,
# Range under concurrent writes and with a modifying or blocking callback,
# ENOMEM.
goc_test(test_map
    CASES
        map_basic_ops map_basic_ops_on_plain_thread map_load_or_store_semantics
        map_swap_semantics map_compare_and_swap_semantics map_load_and_delete_semantics
        map_keys_copied_and_binary map_range_visits_every_key_and_stops_on_false
        map_len_counts_keys map_differential_against_reference
        map_range_under_concurrent_writes map_range_callback_may_modify_map
        map_range_callback_may_block map_grows_under_concurrent_reads
        map_allocation_failure_reports_enomem
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_diag.c — diagnostics under stress: SIGQUIT dumps taken during a spawn
# storm (the dump reads the all-goroutines table from a signal handler).
# notsan: thousands of fibers per child exhaust ThreadSanitizer's memory,
# and TSan defers signals.
goc_test(test_diag
    CASES
        sigquit_during_spawn_storm_never_crashes
    LABELS notsan heavy
    TIMEOUT 300)

# ---------------------------------------------------------------------------
# test_limits.c — resource limits and bad settings: address space running
# out mid-storm, unmappable stack sizes, bad GOCMAXPROCS, the processor
# limit, SIGQUIT inherited as ignored.
# noasan/notsan: the sanitizers reserve terabytes of address space, so a
# 1 GiB RLIMIT_AS cannot be used under them.
goc_test(test_limits
    CASES
        go_returns_enomem_when_address_space_runs_out_then_recovers
        go_sized_rejects_stacks_that_cannot_be_mapped
        gocmaxprocs_not_a_number_is_reported_and_ignored
        gocmaxprocs_above_the_limit_is_capped_and_reported
        maxprocs_above_the_limit_is_capped_and_reported
        sigquit_dumps_even_when_inherited_as_ignored)
foreach(_procs 1 2)
    set_tests_properties(limits.go_returns_enomem_when_address_space_runs_out_then_recovers.p${_procs}
        PROPERTIES LABELS "noasan;notsan")
endforeach()
# test_time_go123.c — timers as Go 1.23 has them beyond "no stale value":
# Stop/Reset return true for a fired, unreceived timer (the pre-1.23 drain
# idiom never blocks on a dropped value), timer/ticker/After channels report
# len and cap 0, a released goc_after timer is stopped and freed, and a timer
# or ticker freed twice or used after free panics.
goc_test(test_time_go123
    CASES
        stop_returns_true_for_fired_unreceived_timer
        reset_returns_true_for_fired_unreceived_timer
        stop_and_reset_return_false_after_receive stop_drain_idiom_does_not_block
        stop_true_iff_value_not_received stop_true_iff_value_not_received_concurrent
        after_func_stop_false_once_started
        timer_channel_len_and_cap_are_zero ticker_channel_len_and_cap_are_zero
        after_channel_len_and_cap_are_zero plain_channel_len_and_cap_unchanged
        after_released_unfired_is_collected after_fired_is_freed_with_its_channel
        after_release_races_firing released_after_does_not_hide_deadlock
        after_retained_reference_keeps_timer
        timer_free_twice_panics timer_use_after_free_panics ticker_free_twice_panics
        ticker_use_after_free_panics timer_and_ticker_not_interchangeable
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_signal.c — signal notification (goc_signal_notify / goc_signal_stop):
# delivery to channels, drops when full, stop and the earlier action back,
# SIGQUIT to a channel instead of a dump, SIGPIPE never fatal, bad
# arguments, no deadlock report while waiting for a signal.
# notsan: ThreadSanitizer defers signals. aarch64: all of it works under
# qemu-user (whose /proc shows 0 threads, so the deadlock case passes there
# without telling anything).
goc_test(test_signal
    CASES
        notify_delivers_sigusr1_sent_with_kill notify_on_plain_thread
        several_channels_each_get_the_signal notify_adds_signals_to_a_channel
        notify_all_catches_sigusr2 full_channel_drops_signals_and_delivery_goes_on
        unbuffered_channel_without_a_receiver_drops_the_signal
        stop_stops_delivery_to_that_channel_only notify_keeps_a_reference_until_stop
        stop_restores_the_default_action stop_gives_back_the_programs_own_handler
        sigquit_goes_to_the_channel_and_dumps_again_after_stop
        sigpipe_never_kills_writes_get_epipe sigpipe_never_kills_main_thread
        sigpipe_is_delivered_when_notified bad_signals_and_channels_are_einval
        no_deadlock_report_while_waiting_for_a_signal signal_from_another_thread_wakes_main
    LABELS notsan aarch64)
if(CMAKE_CROSSCOMPILING_EMULATOR)
    string(JOIN " " _goc_emulator ${CMAKE_CROSSCOMPILING_EMULATOR})
    get_property(_goc_signal_tests DIRECTORY PROPERTY TESTS)
    foreach(_t IN LISTS _goc_signal_tests)
        if(_t MATCHES "^signal\\.")
            set_property(TEST "${_t}" APPEND PROPERTY ENVIRONMENT "GOC_TEST_EMULATOR=${_goc_emulator}")
        endif()
    endforeach()
endif()
# test_dump_scale.c — goc_dump of many goroutines while the program goes on:
# every parked goroutine listed; spawns continue while a dump waits for a
# slow reader (the all-goroutines lock is not held while writing);
# custom-stack goroutines exit (their stacks unmapped) while dumps unwind.
goc_test(test_dump_scale
    CASES
        dump_lists_every_parked_goroutine spawns_go_on_while_dump_writes_to_slow_reader
        dump_while_custom_stack_goroutines_exit
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_net.c — goroutine-aware sockets on 127.0.0.1: echo over hundreds of
# connections (every byte checked), deadlines and cancellation on read,
# write, accept and connect (nothing consumed), goc_close waking every
# waiter, EOF, broken and refused connections (no SIGPIPE), UDP datagram
# boundaries, plain threads, wrong socket kinds and bad arguments.
goc_test(test_net
    CASES
        echo_hundreds_of_connections_every_byte_checked
        read_deadline_returns_etimedout_and_consumes_nothing
        read_cancel_returns_ecanceled_and_consumes_nothing
        read_deadlines_racing_a_stream_lose_nothing
        write_deadline_on_full_socket_returns_etimedout
        write_cancel_on_full_socket_returns_ecanceled
        accept_deadline_returns_etimedout accept_cancel_returns_ecanceled
        connect_deadline_on_full_backlog_returns_etimedout
        connect_cancel_on_full_backlog_returns_ecanceled
        close_wakes_blocked_readers_and_writers_with_ebadf
        close_wakes_blocked_accept_with_ebadf
        read_returns_zero_at_eof_after_peer_closes
        write_to_closed_peer_is_epipe_or_econnreset_not_sigpipe
        dial_port_nobody_listens_on_is_econnrefused
        udp_sendto_recvfrom_keeps_datagram_boundaries
        plain_thread_reads_what_goroutine_writes goroutine_reads_what_plain_thread_writes
        plain_threads_only_same_results
        wrong_socket_types_are_errors_not_hangs listen_and_dial_bad_arguments_are_errors
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_io.c — goroutine-aware I/O on pipes and regular files: 8 MiB through
# a pipe in order, EOF, broken pipes (-EPIPE, never SIGPIPE, also on plain
# threads), regular files against read(2), goc_close waking every reader,
# the fd-reuse race, goc_fd_wait, ended contexts, bad descriptors, a pipe
# echo served while every processor runs a goroutine that only yields.
goc_test(test_io
    CASES
        pipe_8mib_arrives_in_order pipe_read_returns_zero_after_writer_closes
        pipe_write_with_reader_gone_is_epipe_not_sigpipe
        pipe_write_with_reader_gone_on_plain_thread_is_epipe
        regular_file_calls_match_read2 regular_file_calls_match_read2_on_plain_thread
        concurrent_pwrites_to_one_file
        close_wakes_every_blocked_pipe_reader_with_ebadf
        fd_reuse_after_close_old_readers_never_see_new_file
        fd_reuse_racing_wakeups_never_read_new_file
        fd_wait_readable_writable_and_deadline fd_wait_bad_events_is_einval
        ended_context_fails_before_doing_anything
        bad_fds_are_ebadf_never_a_crash_or_hang bad_fds_are_ebadf_on_plain_thread
        pipe_echo_served_while_every_processor_spins
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_blocking.c — the blocking-call handoff (goc_blocking: a ticker keeps
# running on one processor, 40 calls in parallel, values, plain threads,
# goc calls inside fn) and the deadlock detector around I/O waits (child
# processes: waiting for another process is no deadlock; a real one after
# the I/O has ended is still reported).
goc_test(test_blocking
    CASES
        blocking_call_keeps_ticker_running many_blocking_calls_run_in_parallel
        blocking_returns_fn_value blocking_on_plain_thread_just_calls_fn
        blocking_on_plain_thread_beside_goroutines goc_calls_inside_fn_block_only_that_thread
        many_short_blocking_calls_all_return
        blocking_fn_readies_goroutines_while_processors_are_retaken
        no_deadlock_report_while_waiting_on_pipe_for_another_process
        no_deadlock_report_while_accepting_from_another_process
        no_deadlock_report_during_long_blocking_call
        deadlock_still_reported_after_io_waits_end
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_file.c — goc_read / goc_write / goc_pread / goc_pwrite on regular
# files: through io_uring (file.<case>.p1/p2, where the kernel allows it)
# and through the blocking-call handoff (file.<case>.blocking.p1/p2, run
# with GOCDEBUG=iouring=0). Byte-exact contents (16 MiB), the file
# position, EOF, errors, many goroutines on one file, more operations than
# the ring holds, a ticker that keeps ticking beside a reader on one
# processor, plain-thread callers.
set(_goc_file_cases
    path_follows_gocdebug_and_kernel gocdebug_other_settings_do_not_disable_the_ring
    write_then_read_back_advances_position read_shares_the_position_with_read_2
    pread_pwrite_leave_the_position_alone empty_file_reads_eof large_file_is_byte_exact
    special_files_epoll_refuses_work_too nonblocking_regular_file_still_reads
    errors_are_negative_errno ended_context_does_nothing many_goroutines_pread_one_file
    more_operations_than_the_ring_holds concurrent_pwrites_to_disjoint_regions
    file_reads_do_not_stop_a_ticker plain_threads_read_and_write
    goroutines_and_plain_threads_share_the_ring)
goc_test(test_file CASES ${_goc_file_cases} TIMEOUT 120)
foreach(_case IN LISTS _goc_file_cases)
    foreach(_procs 1 2)
        add_test(NAME "file.${_case}.blocking.p${_procs}" COMMAND test_file "${_case}")
        math(EXPR _file_timeout "120 * ${GOC_TEST_TIMEOUT_SCALE}")
        set_tests_properties("file.${_case}.blocking.p${_procs}" PROPERTIES
            ENVIRONMENT "GOCMAXPROCS=${_procs};GOCDEBUG=iouring=0"
            TIMEOUT "${_file_timeout}")
    endforeach()
endforeach()
# test_race.c — the race detector sees goroutines as Go's does: goroutine
# switches are not synchronization, so a racy program (two goroutines; a
# goroutine and a plain thread; a write before a park) is reported by
# ThreadSanitizer, naming the fibers "goroutine N", at GOCMAXPROCS=1 and 2;
# and each primitive (go statement, channels unbuffered/buffered/closed,
# select, mutex, rwmutex, WaitGroup, Once, Cond, context cancel, timers and
# AfterFunc, errgroup, weighted semaphore) publishing a plain int is not.
# Meaningful in the race build (make test-race). In other builds the
# racy_*_reported cases only check that the racy child runs to completion
# and print a note saying so (nothing looks for races there); the publish_*
# cases check the published values in every build.
goc_test(test_race
    CASES
        racy_two_goroutines_reported racy_goroutine_and_thread_reported
        racy_write_then_park_reported
        publish_go_statement publish_unbuffered_channel publish_buffered_channel
        publish_channel_close publish_buffered_channel_as_semaphore publish_select
        publish_mutex publish_rwmutex publish_waitgroup publish_once publish_cond
        publish_context_cancel publish_timer_after_func publish_errgroup
        publish_semaphore
    TIMEOUT 120)

# ---------------------------------------------------------------------------
# test_preempt.c — preemption of goroutines that make no goc call: a sleeper
# beside a spinner on one processor, a 5 ms ticker and a 50 ms context
# timeout with every processor spinning, libc-heavy spinners (snprintf,
# malloc/free) with the heap intact, sync.Pool never duplicating or losing
# an item, a preempted spinner's integer/SSE/AVX registers, goc_id() and
# errno intact. Every spinner stops by itself within 3 s, so without
# preemption each case fails on an assertion within seconds. Each case runs
# once more with GOCDEBUG=asyncpreemptoff=1 (preempt.<case>.asyncpreemptoff.p1/p2):
# the processor is taken from the long runner instead of switching it out.
# notsan: the spinners of these cases loop without atomics or calls, so
# ThreadSanitizer never delivers them the preemption signal.
set(_goc_preempt_cases
    sleeper_wakes_on_time_beside_spinner_on_one_processor
    ticker_keeps_ticking_while_every_processor_spins
    context_timeout_fires_on_time_while_every_processor_spins
    libc_heavy_spinners_keep_heap_intact_while_preempted
    pool_items_never_lost_or_duplicated_under_preemption
    spinner_registers_and_sse_avx_state_survive_preemption
    preempted_goroutine_keeps_its_goc_id
    errno_of_own_libc_call_survives_preemption_in_spin)
set(_goc_preempt_notsan
    spinner_registers_and_sse_avx_state_survive_preemption
    errno_of_own_libc_call_survives_preemption_in_spin)
goc_test(test_preempt CASES ${_goc_preempt_cases} TIMEOUT 60)
math(EXPR _goc_preempt_timeout "60 * ${GOC_TEST_TIMEOUT_SCALE}")
foreach(_case IN LISTS _goc_preempt_cases)
    foreach(_procs 1 2)
        add_test(NAME "preempt.${_case}.asyncpreemptoff.p${_procs}" COMMAND test_preempt "${_case}")
        set_tests_properties("preempt.${_case}.asyncpreemptoff.p${_procs}" PROPERTIES
            ENVIRONMENT "GOCMAXPROCS=${_procs};GOCDEBUG=asyncpreemptoff=1"
            TIMEOUT "${_goc_preempt_timeout}")
        if(_case IN_LIST _goc_preempt_notsan)
            set_property(TEST "preempt.${_case}.p${_procs}"
                "preempt.${_case}.asyncpreemptoff.p${_procs}" APPEND PROPERTY LABELS notsan)
        endif()
        # Their spinners keep every core busy on purpose: run alone, so that
        # neither they nor the timing of other tests suffer from the other.
        set_tests_properties("preempt.${_case}.p${_procs}"
            "preempt.${_case}.asyncpreemptoff.p${_procs}" PROPERTIES RUN_SERIAL TRUE)
    endforeach()
endforeach()

# test_leak.c — goc_leak_check (goleak's VerifyNone): 0 once goroutines
# finish; blocked goroutines counted and dumped with wait reason and
# creation site ("created by f in goroutine N"); never waits longer than
# asked; a goroutine exiting during the wait is not counted; fd < 0 writes
# nothing; from a plain thread; AfterFunc goroutines show the user's call
# site; goc_dump and the SIGQUIT dump print "created by".
goc_test(test_leak
    CASES
        clean_after_goroutines_finish does_not_count_the_caller
        names_blocked_goroutines waits_no_longer_than_asked
        does_not_count_a_goroutine_that_exits_meanwhile negative_fd_writes_nothing
        from_a_plain_thread after_func_goroutine_shows_the_users_call_site
        dump_shows_created_by sigquit_dump_shows_created_by
    TIMEOUT 60)
# ThreadSanitizer defers signals (as for test_signal).
foreach(_procs 1 2)
    set_property(TEST "leak.sigquit_dump_shows_created_by.p${_procs}" APPEND PROPERTY LABELS notsan)
endforeach()

# test_synctest.c — goc_synctest_run / goc_synctest_wait (Go 1.25's
# testing/synctest): a bubble's virtual clock (sleeps, timers, tickers,
# context deadlines, exact to the nanosecond, instant in real time), Wait and
# durable blocking (bubble channels, mutex, cond, WaitGroup; channels from
# outside are not durable), run waiting for every goroutine, the real clock
# outside untouched, concurrent bubbles, Go's own synctest tests (go_*), and
# the panics: deadlocks, bubble channels/timers used from outside, Wait
# outside a bubble, concurrent Waits, nested runs (child processes).
goc_test(test_synctest
    CASES
        sleep_hour_returns_at_once_exactly_an_hour_later run_from_plain_thread
        timers_fire_in_deadline_order_at_exact_times context_deadline_expires_exactly_at_5s
        tickers_are_exact wait_returns_once_others_durably_blocked_and_time_stays
        wait_waits_for_goroutines_blocked_outside_the_bubble
        real_clock_outside_a_bubble_is_untouched run_returns_only_after_every_goroutine_exits
        run_waits_for_running_goroutines concurrent_bubbles_have_their_own_clocks
        mutex_wait_is_durable
        go_now go_run_empty go_simple_wait go_goroutine_wait go_wait
        go_timer_read_before_deadline go_timer_read_after_deadline go_timer_reset
        go_time_after go_timer_after_bubble_exit go_timer_from_outside_bubble
        go_timer_runs_immediately go_timer_ran_in_past go_after_func_runs_immediately
        go_timer_reset_zero_do_not_hang go_channel_from_outside_bubble go_cond
        go_wait_group_in_bubble go_wait_group_racing_adds
        go_deadlock_root bubble_deadlock_panics_with_gos_text_and_lists_goroutines
        go_deadlock_child go_deadlock_ticker
        bubble_channels_and_timers_panic_outside_their_bubble wait_outside_a_bubble_panics
        nested_run_panics concurrent_waits_panic
    TIMEOUT 60)

# test_lock.c — the runtime lock (glock): exclusion with exact counts and no
# lost wakeup (holders sleep inside the lock so waiters sleep on the futex),
# in the plain-store and the fenced unlock modes, threads and goroutines.
goc_test(test_lock
    CASES
        threads_exclusion_exact_no_lost_wakeup fenced_mode_exclusion_exact_no_lost_wakeup
        default_mode_is_plain_store_when_membarrier_works
        goroutines_and_threads_exact_four_procs
    LABELS aarch64
    TIMEOUT 60)
# The fenced-mode case re-executes the program: under qemu-user it needs the
# emulator (as chan's and select's death tests above).
if(CMAKE_CROSSCOMPILING_EMULATOR)
    string(JOIN " " _goc_emulator ${CMAKE_CROSSCOMPILING_EMULATOR})
    foreach(_procs 1 2)
        set_property(TEST "lock.fenced_mode_exclusion_exact_no_lost_wakeup.p${_procs}" APPEND
                     PROPERTY ENVIRONMENT "GOC_TEST_EMULATOR=${_goc_emulator}")
    endforeach()
endif()
