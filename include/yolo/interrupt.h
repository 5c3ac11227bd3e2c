/* Ctrl+C and SIGTERM for tools that stop cleanly: the first one only sets interrupt_signal (the tool
 * finishes what it is writing, says how far it got and exits 128 + the signal); a second one, back to
 * the default action, ends the process at once. (The trainer has its own: its ranks agree on the
 * batch to stop after.) */
#ifndef YOLO_INTERRUPT_H
#define YOLO_INTERRUPT_H

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 0, or the signal that arrived. */
extern volatile sig_atomic_t interrupt_signal;

/* Installs the handler for SIGINT and SIGTERM (system calls are restarted). */
void interrupt_catch(void);

#ifdef __cplusplus
}
#endif
#endif
