// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <kite/event.h>
#include <kite/log.h>

struct event_source {
	int fd;
	event_fn fn;
	void *opaque;
	struct event_source *next;
	bool dead;
};

struct pending_call {
	event_call_fn fn;
	void *opaque;
	struct pending_call *next;
};

struct event_loop {
	int epfd;
	int wakefd;
	pthread_t thread;
	bool running;
	bool stop;
	pthread_mutex_t lock; /* calls queue and stop flag */
	struct pending_call *calls, **calls_tail;
	struct event_source *sources; /* owned by the loop thread (or before run) */
};

struct event_timer {
	struct event_loop *loop;
	int fd;
	event_call_fn fn;
	void *opaque;
};

static void event_wake(struct event_loop *l)
{
	uint64_t one = 1;

	if (write(l->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("event loop: wake-up failed: %s", strerror(errno));
}

struct event_loop *event_loop_new(void)
{
	struct event_loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wakefd < 0)
		goto fail;
	ev.data.ptr = NULL; /* the wake-up fd */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0)
		goto fail;
	pthread_mutex_init(&l->lock, NULL);
	l->calls_tail = &l->calls;
	return l;
fail:
	pr_err("event loop: %s", strerror(errno));
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	free(l);
	return NULL;
}

void event_loop_free(struct event_loop *l)
{
	struct event_source *s, *n;
	struct pending_call *c, *cn;

	if (!l)
		return;
	for (s = l->sources; s; s = n) {
		n = s->next;
		free(s);
	}
	for (c = l->calls; c; c = cn) {
		cn = c->next;
		free(c);
	}
	close(l->epfd);
	close(l->wakefd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int event_loop_add(struct event_loop *l, int fd, uint32_t events, event_fn fn, void *opaque)
{
	struct event_source *s = calloc(1, sizeof(*s));
	struct epoll_event ev = { .events = events };

	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->fn = fn;
	s->opaque = opaque;
	ev.data.ptr = s;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		free(s);
		return r;
	}
	s->next = l->sources;
	l->sources = s;
	return 0;
}

static struct event_source *event_find(struct event_loop *l, int fd)
{
	for (struct event_source *s = l->sources; s; s = s->next)
		if (s->fd == fd && !s->dead)
			return s;
	return NULL;
}

int event_loop_mod(struct event_loop *l, int fd, uint32_t events)
{
	struct event_source *s = event_find(l, fd);
	struct epoll_event ev = { .events = events };

	if (!s)
		return -ENOENT;
	ev.data.ptr = s;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int event_loop_del(struct event_loop *l, int fd)
{
	struct event_source *s = event_find(l, fd);

	if (!s)
		return -ENOENT;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	/* Freed after the current batch: an event for it may still be in hand. */
	s->dead = true;
	return 0;
}

static void event_reap(struct event_loop *l)
{
	struct event_source **pp = &l->sources;

	while (*pp) {
		struct event_source *s = *pp;

		if (s->dead) {
			*pp = s->next;
			free(s);
		} else {
			pp = &s->next;
		}
	}
}

static bool event_run_calls(struct event_loop *l)
{
	struct pending_call *c;
	bool stop;
	uint64_t v;

	if (read(l->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_warn("event loop: %s", strerror(errno));
	for (;;) {
		pthread_mutex_lock(&l->lock);
		c = l->calls;
		if (c) {
			l->calls = c->next;
			if (!l->calls)
				l->calls_tail = &l->calls;
		}
		stop = l->stop;
		pthread_mutex_unlock(&l->lock);
		if (!c)
			return stop;
		c->fn(c->opaque);
		free(c);
	}
}

int event_loop_run(struct event_loop *l)
{
	struct epoll_event evs[32];
	int r = 0;

	l->thread = pthread_self();
	__atomic_store_n(&l->running, true, __ATOMIC_RELEASE);
	for (;;) {
		int n = epoll_wait(l->epfd, evs, 32, -1);
		bool stop = false;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			pr_err("event loop: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct event_source *s = evs[i].data.ptr;

			if (!s)
				stop = event_run_calls(l);
			else if (!s->dead)
				s->fn(s->opaque, evs[i].events);
		}
		event_reap(l);
		if (stop)
			break;
	}
	__atomic_store_n(&l->running, false, __ATOMIC_RELEASE);
	pthread_mutex_lock(&l->lock);
	l->stop = false;
	pthread_mutex_unlock(&l->lock);
	return r;
}

void event_loop_stop(struct event_loop *l)
{
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_mutex_unlock(&l->lock);
	event_wake(l);
}

int event_loop_call(struct event_loop *l, event_call_fn fn, void *opaque)
{
	struct pending_call *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->opaque = opaque;
	c->next = NULL;
	pthread_mutex_lock(&l->lock);
	*l->calls_tail = c;
	l->calls_tail = &c->next;
	pthread_mutex_unlock(&l->lock);
	event_wake(l);
	return 0;
}

bool event_loop_on_thread(struct event_loop *l)
{
	return __atomic_load_n(&l->running, __ATOMIC_ACQUIRE) && pthread_equal(l->thread, pthread_self());
}

static void event_timer_fire(void *opaque, uint32_t events)
{
	struct event_timer *t = opaque;
	uint64_t expirations;

	if (read(t->fd, &expirations, sizeof(expirations)) == sizeof(expirations))
		t->fn(t->opaque);
}

struct event_timer *event_timer_new(struct event_loop *l, uint64_t first_ns, uint64_t period_ns, event_call_fn fn,
				    void *opaque)
{
	struct event_timer *t = calloc(1, sizeof(*t));
	struct itimerspec its = {
		.it_value = { .tv_sec = first_ns / 1000000000ull, .tv_nsec = first_ns % 1000000000ull },
		.it_interval = { .tv_sec = period_ns / 1000000000ull, .tv_nsec = period_ns % 1000000000ull },
	};

	if (!t)
		return NULL;
	if (!first_ns)
		its.it_value.tv_nsec = 1;
	t->loop = l;
	t->fn = fn;
	t->opaque = opaque;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->fd < 0 || timerfd_settime(t->fd, 0, &its, NULL) < 0 ||
	    event_loop_add(l, t->fd, EPOLLIN, event_timer_fire, t) < 0) {
		pr_err("event timer: %s", strerror(errno));
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return NULL;
	}
	return t;
}

void event_timer_free(struct event_timer *t)
{
	if (!t)
		return;
	event_loop_del(t->loop, t->fd);
	close(t->fd);
	free(t);
}
