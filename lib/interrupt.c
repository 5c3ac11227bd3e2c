/* Ctrl+C and SIGTERM, caught once (include/yolo/interrupt.h). */
#include "yolo/interrupt.h"

#include <string.h>

volatile sig_atomic_t interrupt_signal;

static void on_interrupt(int sig) {
    interrupt_signal = sig;
    signal(sig, SIG_DFL); /* a second one ends the process */
}

void interrupt_catch(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
