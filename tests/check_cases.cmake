# tests/check_cases.cmake — every test case is named twice: in its test file
# (TEST/GTEST) and in tests/cases.cmake (goc_test's CASES). This script,
# run by CTest (tests cases.<name>, label `cases`), checks that the two lists
# agree for one program:
#
#   cmake [-DGOC_EMULATOR=<emulator>] -P check_cases.cmake --
#         PROGRAM <stem> CASES <case>... RUN <program>
#
#     runs `<program> --list` (behind the cross emulator, a list such as
#     qemu-aarch64;-L;/usr/aarch64-linux-gnu, if there is one) and compares
#     the cases it prints with the CASES registered for <stem>; fails,
#     naming the program and each case, if one list has a case the other
#     lacks, or if CASES names a case twice.
#
#   cmake -P check_cases.cmake -- UNREGISTERED <stem>
#
#     fails: tests/<stem>.c exists but cases.cmake has no goc_test(<stem> ...).
cmake_minimum_required(VERSION 3.25)

set(_mode "")
set(_stem "")
set(_registered "")
set(_command "")
set(_started FALSE)
math(EXPR _last "${CMAKE_ARGC} - 1")
foreach(_i RANGE ${_last})
    set(_arg "${CMAKE_ARGV${_i}}")
    if(NOT _started)
        if(_arg STREQUAL "--")
            set(_started TRUE)
        endif()
    elseif(_arg STREQUAL "PROGRAM" OR _arg STREQUAL "UNREGISTERED")
        set(_mode "${_arg}")
        set(_next stem)
    elseif(_arg STREQUAL "CASES" AND _mode STREQUAL "PROGRAM")
        set(_next cases)
    elseif(_arg STREQUAL "RUN" AND _mode STREQUAL "PROGRAM")
        set(_next command)
    elseif(_next STREQUAL "stem")
        set(_stem "${_arg}")
    elseif(_next STREQUAL "cases")
        list(APPEND _registered "${_arg}")
    elseif(_next STREQUAL "command")
        list(APPEND _command "${_arg}")
    else()
        message(FATAL_ERROR "check_cases.cmake: unexpected argument \"${_arg}\"")
    endif()
endforeach()

if(_mode STREQUAL "UNREGISTERED")
    message(FATAL_ERROR "tests/${_stem}.c: no goc_test(${_stem} CASES ...) in tests/cases.cmake, "
                        "so none of its cases is built or run")
endif()
if(NOT _mode STREQUAL "PROGRAM" OR _stem STREQUAL "" OR NOT _command)
    message(FATAL_ERROR "usage: cmake [-DGOC_EMULATOR=<emulator>] -P check_cases.cmake -- "
                        "PROGRAM <stem> CASES <case>... RUN <program>\n"
                        "   or: cmake -P check_cases.cmake -- UNREGISTERED <stem>")
endif()

execute_process(
    COMMAND ${GOC_EMULATOR} ${_command} --list
    RESULT_VARIABLE _rc
    OUTPUT_VARIABLE _out
    ERROR_VARIABLE _err
    TIMEOUT 120)
if(NOT _rc STREQUAL "0")
    message(FATAL_ERROR "${_stem}: `${_stem} --list` failed (${_rc}):\n${_err}")
endif()
string(REGEX REPLACE "\n$" "" _out "${_out}")
string(REPLACE "\n" ";" _listed "${_out}")
list(REMOVE_ITEM _listed "")

set(_problems "")
set(_seen "")
foreach(_case IN LISTS _registered)
    if(_case IN_LIST _seen)
        list(APPEND _problems
             "case \"${_case}\" is registered twice in goc_test(${_stem}) in tests/cases.cmake")
    endif()
    list(APPEND _seen "${_case}")
endforeach()
foreach(_case IN LISTS _listed)
    if(NOT _case IN_LIST _registered)
        string(CONCAT _msg "case \"${_case}\" is defined in tests/${_stem}.c (`${_stem} --list`) "
                           "but not registered in goc_test(${_stem}) in tests/cases.cmake: "
                           "CTest never runs it")
        list(APPEND _problems "${_msg}")
    endif()
endforeach()
foreach(_case IN LISTS _seen)
    if(NOT _case IN_LIST _listed)
        string(CONCAT _msg "case \"${_case}\" is registered in goc_test(${_stem}) in "
                           "tests/cases.cmake but tests/${_stem}.c defines no TEST or GTEST "
                           "of that name (`${_stem} --list`)")
        list(APPEND _problems "${_msg}")
    endif()
endforeach()

list(LENGTH _listed _n)
if(_problems)
    list(LENGTH _problems _bad)
    string(REPLACE ";" "\n  ${_stem}: " _report "${_problems}")
    message(FATAL_ERROR "${_stem}: the cases in tests/${_stem}.c and in tests/cases.cmake "
                        "disagree (${_bad} problem(s)):\n  ${_stem}: ${_report}\n")
endif()
message(STATUS "${_stem}: ${_n} cases, each registered once in tests/cases.cmake")
