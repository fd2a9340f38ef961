/* goc.h — Go's concurrency model in C11: goroutines on an M:N work-stealing
 * scheduler, and Go's synchronization. One umbrella header; each package has
 * its own header under goc/. */
#ifndef GOC_H
#define GOC_H

#include <goc/chan.h>
#include <goc/context.h>
#include <goc/io.h>
#include <goc/runtime.h>
#include <goc/sync.h>
#include <goc/testing.h>
#include <goc/time.h>
#include <goc/xsync.h>

#endif /* GOC_H */
