/* sched/internal.h — scheduler entry points used by the other runtime files
 * (creation, the post-switch hook, per-M accessors). Not for subsystems
 * above the scheduler: those use sched.h. */
#ifndef GOC_SCHED_INTERNAL_H
#define GOC_SCHED_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sched/sched.h"

int gsched_init(void);
int gsched_newproc(void (*fn)(void *), const void *args, size_t args_size, size_t stack_size,
                   bool is_main);
void gsched_after_switch(void);
m *getm(void);
g *gsched_current_g_or_null(void);
pid_t gsched_m_tid(const m *mp);
void **gsched_m_altstack(m *mp);
bool gsched_g_is_current(const g *gp);


#endif
