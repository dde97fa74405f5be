/* SPDX-License-Identifier: MIT */
#ifndef KITE_EVENT_H
#define KITE_EVENT_H

/*
 * The event loop: one epoll thread per VM for everything that is not a vCPU
 * (ioeventfds, backends, console input, the control socket, migration
 * streams), and one more per disk for its queue.  Callbacks run on the
 * loop's thread only.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct event_loop;
typedef void (*event_fn)(void *opaque, uint32_t events);
/* A deferred call, run once on the loop thread (see event_loop_call). */
typedef void (*event_call_fn)(void *opaque);

struct event_loop *event_loop_new(void);
void event_loop_free(struct event_loop *l);
/* `events` are EPOLLIN/EPOLLOUT/...; the same fd may be added once. */
int event_loop_add(struct event_loop *l, int fd, uint32_t events, event_fn fn, void *opaque);
int event_loop_mod(struct event_loop *l, int fd, uint32_t events);
int event_loop_del(struct event_loop *l, int fd);
/* Runs until event_loop_stop(); returns 0, or -errno if epoll failed. */
int event_loop_run(struct event_loop *l);
/* Safe from any thread or signal-free context; wakes the loop. */
void event_loop_stop(struct event_loop *l);
/* Queues fn(opaque) to run on the loop thread; safe from any thread. */
int event_loop_call(struct event_loop *l, event_call_fn fn, void *opaque);
bool event_loop_on_thread(struct event_loop *l);

/* One-shot or periodic timers on the loop (timerfd).  period_ns 0 = one-shot. */
struct event_timer;
struct event_timer *event_timer_new(struct event_loop *l, uint64_t first_ns, uint64_t period_ns, event_call_fn fn,
				    void *opaque);
void event_timer_free(struct event_timer *t);

#endif
