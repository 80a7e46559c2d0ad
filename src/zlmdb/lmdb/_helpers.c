/* zlmdb C helpers, compiled into zlmdb._lmdb_cffi together with LMDB.
 *
 * Every public operation of zlmdb.lmdb crosses into C once, through one of these functions.
 * Besides saving crossings, this layer owns the lifetime rules that keep Python code from
 * ever touching freed LMDB memory:
 *
 *  - zl_env / zl_txn / zl_cursor wrap the LMDB handles. Each is reference counted: Python
 *    holds one reference, every child (txn -> env, cursor -> txn) holds one, so a struct is
 *    freed only when nothing can reach it any more, in whatever order finalizers run.
 *  - An operation on a txn or cursor increments the txn's `busy` counter and then checks that
 *    the txn (and cursor) are still live; ending a txn first marks it ENDING and then waits for
 *    `busy` to drain. With sequentially consistent atomics either the operation sees the
 *    txn as ending (and returns ZL_CLOSED) or the ender sees the operation (and waits), so
 *    a commit, abort, cursor close or environment close on another thread never frees
 *    memory under a running operation. Environment-level calls use the env's own counter.
 *  - Write transactions of one environment are exclusive inside the process (a condition
 *    variable, so that lock=False environments and same-thread deadlocks are handled):
 *    a second thread waits, the same thread gets ZL_BUSY_SAME_THREAD.
 *  - Nothing here relies on the GIL: cffi releases it around every call, and free-threaded
 *    CPython runs this code unchanged.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb.h"
#include "_engine.h"

#ifdef _WIN32
#include <windows.h>
#include <io.h>
typedef CRITICAL_SECTION zl_mutex_t;
typedef CONDITION_VARIABLE zl_cond_t;
typedef DWORD zl_thread_t;
#define zl_mutex_init(m) InitializeCriticalSection(m)
#define zl_mutex_destroy(m) DeleteCriticalSection(m)
#define zl_mutex_lock(m) EnterCriticalSection(m)
#define zl_mutex_unlock(m) LeaveCriticalSection(m)
#define zl_cond_init(c) InitializeConditionVariable(c)
#define zl_cond_destroy(c) ((void)0)
#define zl_cond_wait(c, m) SleepConditionVariableCS(c, m, INFINITE)
#define zl_cond_broadcast(c) WakeAllConditionVariable(c)
#define zl_self() GetCurrentThreadId()
#define zl_same_thread(a, b) ((a) == (b))
#define zl_getpid() ((long)GetCurrentProcessId())
#define zl_yield() SwitchToThread()
static long zl_atomic_add(volatile long *p, long d) { return InterlockedExchangeAdd(p, d) + d; }
static long zl_atomic_load(volatile long *p) { return InterlockedCompareExchange(p, 0, 0); }
static long zl_atomic_cas(volatile long *p, long expect, long desired)
{
    return InterlockedCompareExchange(p, desired, expect) == expect;
}
#else
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
typedef pthread_mutex_t zl_mutex_t;
typedef pthread_cond_t zl_cond_t;
typedef pthread_t zl_thread_t;
#define zl_mutex_init(m) pthread_mutex_init(m, NULL)
#define zl_mutex_destroy(m) pthread_mutex_destroy(m)
#define zl_mutex_lock(m) pthread_mutex_lock(m)
#define zl_mutex_unlock(m) pthread_mutex_unlock(m)
#define zl_cond_init(c) pthread_cond_init(c, NULL)
#define zl_cond_destroy(c) pthread_cond_destroy(c)
#define zl_cond_wait(c, m) pthread_cond_wait(c, m)
#define zl_cond_broadcast(c) pthread_cond_broadcast(c)
#define zl_self() pthread_self()
#define zl_same_thread(a, b) pthread_equal(a, b)
/* getpid() is a system call on current glibc (~0.3 us here) and the transaction paths ask
 * for it several times; the pid is cached and refreshed in a fork child by an atfork handler
 * (os.fork() and multiprocessing run fork(), which runs it; exec'd children never get here). */
static volatile long zl_pid_cache;
static pthread_once_t zl_pid_once = PTHREAD_ONCE_INIT;
static void zl_pid_refresh(void) { zl_pid_cache = (long)getpid(); }
static void zl_pid_setup(void)
{
    zl_pid_refresh();
    pthread_atfork(NULL, NULL, zl_pid_refresh);
}
static long zl_getpid(void)
{
    long pid = zl_pid_cache;
    if (pid == 0) {
        pthread_once(&zl_pid_once, zl_pid_setup);
        pid = zl_pid_cache;
    }
    return pid;
}
#define zl_yield() sched_yield()
static long zl_atomic_add(volatile long *p, long d) { return __atomic_add_fetch(p, d, __ATOMIC_SEQ_CST); }
static long zl_atomic_load(volatile long *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static long zl_atomic_cas(volatile long *p, long expect, long desired)
{
    return __atomic_compare_exchange_n(p, &expect, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
#endif

#define ZL_CLOSED -30600
#define ZL_BUSY_SAME_THREAD -30601
#define ZL_NESTED_READONLY -30602
#define ZL_NO_MEMORY -30603
#define ZL_KEYFIXED_SIZE -30604
#define ZL_HELD -30605
#define ZL_UNPOSITIONED -30606
#define ZL_WOULD_WAIT -30607 /* a *_try call met a resize in progress: call the waiting one */
#define ZL_VIA_SIZE -30608   /* zl_get_via: the first value has not the wanted length */
#define ZL_FORKED -30609     /* commit of a write txn a fork child inherited: refused */

#define ZL_TXN_WRITE 1
#define ZL_TXN_NOCOPY 2
#define ZL_PRELOAD 4
#define ZL_NOCOPY 8
#define ZL_TXN_NOWAIT 16 /* zl_txn_begin: ZL_WOULD_WAIT instead of waiting for a resize */

/* Values up to this size are copied out of the map inside the call that finds them, so the
 * Python side copies from memory that stays valid whatever other threads do. Larger ones
 * are handed out as map pointers with the transaction still marked busy (ZL_HELD) until
 * Python has copied them and calls zl_txn_unhold / zl_cursor_unhold. */
#define ZL_COPY_MAX 4096

/* The key buffer of a transaction (zl_getk): keys up to this size (LMDB 0.9's largest is
 * 511 bytes) can be handed over by copying them into it. */
#define ZL_KEYBUF 512

/* CPython: zl_get copies small values into a slot of one process-wide arena, the calling
 * thread's (taken at its first copy, given back when it ends), and returns the slot's
 * offset plus the value's length (>= ZL_SLOT_SIZE, as offset 0 is never handed out);
 * Python slices the value out of a buffer object over that slot, made once per slot. So
 * two threads reading through one transaction at once each get their own value. */
#define ZL_SLOT_SIZE 8192

/* zl_get in a buffers=True (nocopy) transaction: a value in the map comes back as
 * ZL_MAPPED | offset << ZL_MAPPED_LEN_BITS | length, when the offset is below 2^40 and the
 * length below 2^22 (others through zl_thread_vp/zl_thread_vl). */
#define ZL_MAPPED_LEN_BITS 22
#define ZL_MAPPED (1LL << 62)
#define ZL_MAPPED_OFF_LIMIT (1LL << 40)
#define ZL_MAPPED_LEN_LIMIT (1LL << ZL_MAPPED_LEN_BITS)
#define ZL_SLOTS 1024

#define ZL_FILL_KEYS 1
#define ZL_FILL_VALUES 2
#define ZL_FILL_FORMAT 4         /* also write a struct format of the block into c->fmt */
#define ZL_FORMAT_SKIP_KEYS 8    /* ... in which keys are pad bytes ("16x") */
#define ZL_FORMAT_SKIP_VALUES 16 /* ... in which values are pad bytes */

#ifdef _MSC_VER
#define ZL_TLS __declspec(thread)
#else
#define ZL_TLS __thread
#endif

enum { ZL_LIVE = 0, ZL_ENDING = 1, ZL_DEAD = 2 };

typedef struct zl_env zl_env;
typedef struct zl_txn zl_txn;
typedef struct zl_cursor zl_cursor;

struct zl_env {
    MDB_env *env;
    const zl_engine *eng;    /* the LMDB engine (0.9 or 1.0) this environment runs on */
    volatile long refcnt;
    volatile long busy;
    volatile long closing;
    volatile long resizing;  /* set_mapsize in progress: new env-level calls wait */
    zl_mutex_t mtx;          /* guards the lists, the writer state and the spare cache */
    zl_cond_t cond;
    int writer_active;
    zl_thread_t writer_thread;
    zl_txn *txns;            /* live transactions */
    MDB_txn **spare;         /* reset read transactions kept for reuse */
    unsigned int nspare, max_spare;
    MDB_txn *getspare[4];    /* reset read transactions of zl_env_get */
    unsigned int ngetspare;
    long pid;
    size_t psize;
    size_t maxkey;           /* the engine's largest key: 511 (0.9), 1978 (1.0, 4 KiB pages) */
    char *map;               /* the memory map and its size (set at open and by a resize) */
    size_t mapsize;
    zl_txn *freetxns;        /* freed zl_txn structs kept for the next begin (linked by next) */
    unsigned int nfreetxns;
    zl_env *gnext, *gprev;   /* the process's list of environments (fork handling) */
    int fork_writer;         /* fork child: the gate is held by an inherited write txn */
};

struct zl_txn {
    char *vp;
    size_t vl;
    int stage;               /* replace: 0 lookup, 1 delete, 2 put (names the failing call) */
    unsigned int dbi;        /* the transaction's default database (zl_get_default) */
    MDB_txn *txn;
    const zl_engine *eng;    /* = env->eng */
    zl_env *env;
    volatile long refcnt;
    volatile long busy;
    volatile long state;
    zl_txn *parent, *child;
    zl_txn *next, *prev;
    zl_cursor *cursors;
    int write;
    int nocopy;              /* buffers=True: hand out map pointers, never copies */
    int opened_dbi;          /* opened a database handle (zl_dbi_open) */
    long pid;
    unsigned long mutations;
    char *scratch;           /* copy of an old value (replace/pop) */
    size_t scratch_cap;
    char *map;               /* = env->map / env->mapsize at begin (no resize while live) */
    size_t mapsize;
};

struct zl_cursor {
    char *kp;
    size_t kl;
    char *vp;
    size_t vl;
    int positioned;
    char *buf;
    size_t *offs;
    size_t nout;
    MDB_cursor *cur;
    zl_txn *txn;
    const zl_engine *eng;    /* = txn->eng */
    volatile long state;
    char *ok;                /* copied-out current key/value (zl_cursor_current/step) */
    size_t okl;
    char *ov;
    size_t ovl;
    volatile long refcnt;
    unsigned int dbi;
    unsigned long last_mutation;
    unsigned long seat_mutation; /* txn mutations when LMDB last moved this cursor itself */
    zl_cursor *next, *prev;
    size_t buf_cap, offs_cap;
    char *out;
    size_t out_cap;
    int dupsort;
    int after_miss;          /* last LMDB positioning was a failed lookup (see cursor_get) */
    char *miss;              /* the key of that lookup */
    size_t miss_len, miss_cap;
    char *fmt;               /* struct format of the block (ZL_FILL_FORMAT): "<16s100s..." */
    size_t fmtlen, fmt_cap;
    /* zl_getmulti / zl_putmulti results */
    size_t mlen;             /* getmulti: bytes of the result in buf */
    int mkind;               /* getmulti: buf holds 2 records of fmt, 1 marshal bytes, 0 a block */
    size_t madded, mconsumed, mfailed; /* putmulti: counts; the failing item's index */
};

/* ---- engines -------------------------------------------------------------------------- */

static const zl_engine zl_engine_v09 = ZL_ENGINE_TABLE;
extern const zl_engine zl_engine_v10;

#define EE(e) ((e)->eng)
#define TE(t) ((t)->eng)
#define CE(c) ((c)->eng)

/* The table of engine 0 (LMDB 0.9) or 1 (LMDB 1.0); NULL for any other number. */
static const zl_engine *engine_of(int engine)
{
    if (engine == 0)
        return &zl_engine_v09;
    if (engine == 1 && zl_engine_v10.stat_size == sizeof(MDB_stat) &&
        zl_engine_v10.envinfo_size == sizeof(MDB_envinfo) &&
        zl_engine_v10.val_size == sizeof(MDB_val))
        return &zl_engine_v10;
    return NULL;
}

int zl_engine_version(int engine, int *major, int *minor, int *patch)
{
    const zl_engine *eng = engine_of(engine);
    if (!eng)
        return EINVAL;
    *major = eng->major;
    *minor = eng->minor;
    *patch = eng->patch;
    return 0;
}

/* LMDB's message for an error code. The 1.0 engine knows every code of 0.9 (with the same
 * texts) and the ones 1.0 added, so its table serves both. */
char *zl_strerror(int err) { return zl_engine_v10.strerror(err); }

/* ---- the copy arena (CPython) ---------------------------------------------------------- */

#ifndef PYPY_VERSION
#define ZL_WORD_BITS (8 * (int)sizeof(long))
static char zl_arena[(size_t)ZL_SLOTS * ZL_SLOT_SIZE]; /* untouched slots take no memory */
static volatile long zl_slot_used[ZL_SLOTS / (8 * sizeof(long))];

/* Take a free slot: its offset in the arena, or 0 when every slot is taken. Lock-free. */
static long slot_take(void)
{
    int w, b;
    for (w = 0; w < (int)(sizeof(zl_slot_used) / sizeof(zl_slot_used[0])); w++) {
        for (;;) {
            long used = zl_atomic_load(&zl_slot_used[w]);
            unsigned long seen = (unsigned long)used | (w == 0 ? 1UL : 0UL); /* slot 0: none */
            if (seen == ~0UL)
                break;
            for (b = 0; (seen >> b) & 1UL; b++)
                ;
            if (zl_atomic_cas(&zl_slot_used[w], used, (long)((unsigned long)used | (1UL << b))))
                return ((long)w * ZL_WORD_BITS + b) * ZL_SLOT_SIZE;
        }
    }
    return 0;
}

static void slot_give(long off)
{
    long i = off / ZL_SLOT_SIZE;
    volatile long *word = &zl_slot_used[i / ZL_WORD_BITS];
    unsigned long bit = 1UL << (i % ZL_WORD_BITS);
    long used;
    do
        used = zl_atomic_load(word);
    while (!zl_atomic_cas(word, used, (long)((unsigned long)used & ~bit)));
}
#endif

/* ---- this thread's zl_get results -----------------------------------------------------
 *
 * A read transaction may be used from several threads at once (py-lmdb code shares one:
 * MDB_NOTLS), so what zl_get hands back must not live in the transaction: CPython gets the
 * offset of this thread's arena slot in the return value, and everything else (a copy made
 * without a slot, PyPy's copies, a held map pointer) is read back through zl_thread_vp /
 * zl_thread_vl, which answer for the calling thread. PyPy also copies keys into this
 * thread's key buffer (zl_thread_kbuf), not the transaction's. */
static ZL_TLS char *zl_tvp;
static ZL_TLS size_t zl_tvl;
static ZL_TLS char *zl_tcopy; /* copies made without an arena slot (always on PyPy) */
static ZL_TLS size_t zl_tcopy_cap;
static ZL_TLS char zl_tkbuf[ZL_KEYBUF];

char *zl_thread_vp(void) { return zl_tvp; }
size_t zl_thread_vl(void) { return zl_tvl; }
char *zl_thread_kbuf(void) { return zl_tkbuf; }

#ifndef PYPY_VERSION
static ZL_TLS long zl_tslot; /* this thread's arena slot: its offset, 0 not yet, -1 none */
#endif

/* A thread that ends gives its slot back and frees its copy buffer (the key's value is the
 * slot's offset, or 1 without a slot). On Windows they stay taken: threads past the
 * arena's ZL_SLOTS then copy through zl_tcopy instead. */
#ifndef _WIN32
static pthread_key_t zl_tkey;
static pthread_once_t zl_tkey_once = PTHREAD_ONCE_INIT;
static int zl_tkey_ok;
static void zl_thread_end(void *slot)
{
#ifndef PYPY_VERSION
    if ((long)(intptr_t)slot > 1)
        slot_give((long)(intptr_t)slot);
    zl_tslot = 0;
#else
    (void)slot;
#endif
    free(zl_tcopy);
    zl_tcopy = NULL;
    zl_tcopy_cap = 0;
}
static void zl_tkey_make(void) { zl_tkey_ok = pthread_key_create(&zl_tkey, zl_thread_end) == 0; }
#endif

/* Ask for zl_thread_end at this thread's end (slot: its arena slot, or 0). */
static void thread_register(long slot)
{
#ifndef _WIN32
    pthread_once(&zl_tkey_once, zl_tkey_make);
    if (zl_tkey_ok)
        pthread_setspecific(zl_tkey, (void *)(intptr_t)(slot > 0 ? slot : 1));
#else
    (void)slot;
#endif
}

#ifndef PYPY_VERSION
static long thread_slot(void)
{
    long s = zl_tslot;
    if (s)
        return s;
    s = slot_take();
    zl_tslot = s ? s : -1;
    thread_register(s);
    return zl_tslot;
}
#endif

char *zl_arena_base(void)
{
#ifndef PYPY_VERSION
    return zl_arena;
#else
    return NULL;
#endif
}

/* ---- small utilities ------------------------------------------------------------------ */

void zl_free(void *p) { free(p); }

static int grow(void **p, size_t *cap, size_t need, size_t unit)
{
    size_t n;
    void *q;
    if (need <= *cap)
        return 0;
    n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    q = realloc(*p, n * unit);
    if (!q)
        return ZL_NO_MEMORY;
    *p = q;
    *cap = n;
    return 0;
}

static void wait_drained(volatile long *busy)
{
    while (zl_atomic_load(busy) != 0)
        zl_yield();
}

#define ZL_TXN_POOL 8 /* freed zl_txn structs an environment keeps for reuse */

static void txn_free(zl_txn *t)
{
    free(t->scratch);
    free(t);
}

/* Free the kept zl_txn structs (caller: the last reference, or under mtx while closing). */
static void free_pool(zl_txn *list)
{
    while (list) {
        zl_txn *next = list->next;
        txn_free(list);
        list = next;
    }
}

/* ---- fork() ---------------------------------------------------------------------------
 *
 * A child made by fork() has only the thread that forked. What the parent's other threads
 * were doing inside this file when it forked never finishes there: a mutex one of them held
 * stays locked, the busy counts of the calls they were in and the environment's writer gate
 * (writer_active) stay taken, so the child's next write, close() or exit would wait for them
 * forever. The atfork handlers below hold every environment's mutex across fork() (so the
 * child gets them unlocked and consistent), and in the child let go of what the vanished
 * threads held. LMDB's own state stays the parent's: the child never calls LMDB on an
 * inherited transaction (see txn_end), and its own write transactions take LMDB's
 * process-shared write lock, which waits for the parent's writer as any other process does. */
#ifndef _WIN32
static zl_env *zl_envs;
static pthread_mutex_t zl_envs_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t zl_fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
    zl_env *e;
    pthread_mutex_lock(&zl_envs_mtx);
    for (e = zl_envs; e; e = e->gnext)
        zl_mutex_lock(&e->mtx);
}

static void fork_parent(void)
{
    zl_env *e;
    for (e = zl_envs; e; e = e->gnext)
        zl_mutex_unlock(&e->mtx);
    pthread_mutex_unlock(&zl_envs_mtx);
}

static void fork_child(void)
{
    zl_env *e;
    zl_txn *t;
    pthread_t me = pthread_self();
    for (e = zl_envs; e; e = e->gnext) {
        /* Waiters of the parent's threads are gone with them. */
        zl_cond_init(&e->cond);
        /* No call of this file is running here: the forking thread is in fork(). */
        e->busy = 0;
        e->resizing = 0;
        /* The reset read transactions kept for reuse hold the parent's reader slots (in
         * the lock file both processes share): the child never renews them. */
        e->nspare = 0;
        e->ngetspare = 0;
        if (e->writer_active) {
            /* The forking thread's own write transaction keeps the gate until it ends
             * (its thread still cannot begin a second one); another thread's is gone. */
            if (pthread_equal(e->writer_thread, me))
                e->fork_writer = 1;
            else
                e->writer_active = 0;
        }
        for (t = e->txns; t; t = t->next) {
            t->busy = 0;
            if (t->state == ZL_ENDING) /* a vanished thread was ending it: end it again */
                t->state = ZL_LIVE;
        }
        zl_mutex_unlock(&e->mtx);
    }
    pthread_mutex_unlock(&zl_envs_mtx);
}

static void fork_setup(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

static void env_list_add(zl_env *e)
{
    pthread_once(&zl_fork_once, fork_setup);
    pthread_mutex_lock(&zl_envs_mtx);
    e->gnext = zl_envs;
    if (zl_envs)
        zl_envs->gprev = e;
    zl_envs = e;
    pthread_mutex_unlock(&zl_envs_mtx);
}

static void env_list_remove(zl_env *e)
{
    pthread_mutex_lock(&zl_envs_mtx);
    if (e->gprev)
        e->gprev->gnext = e->gnext;
    else if (zl_envs == e)
        zl_envs = e->gnext;
    if (e->gnext)
        e->gnext->gprev = e->gprev;
    e->gnext = e->gprev = NULL;
    pthread_mutex_unlock(&zl_envs_mtx);
}
#else
#define env_list_add(e) ((void)0)
#define env_list_remove(e) ((void)0)
#endif

static void env_unref(zl_env *e)
{
    if (zl_atomic_add(&e->refcnt, -1) == 0) {
        env_list_remove(e); /* never called holding e->mtx (see fork_prepare) */
        free_pool(e->freetxns);
        zl_cond_destroy(&e->cond);
        zl_mutex_destroy(&e->mtx);
        free(e->spare);
        free(e);
    }
}

/* The last reference gone: keep the struct (with its buffers and arena slot) for the
 * environment's next begin, or free it. */
static void txn_unref(zl_txn *t)
{
    if (zl_atomic_add(&t->refcnt, -1) == 0) {
        zl_env *e = t->env;
        int kept = 0;
        zl_mutex_lock(&e->mtx);
        if (!e->closing && e->nfreetxns < ZL_TXN_POOL) {
            t->next = e->freetxns;
            e->freetxns = t;
            e->nfreetxns++;
            kept = 1;
        }
        zl_mutex_unlock(&e->mtx);
        if (!kept)
            txn_free(t);
        env_unref(e);
    }
}

static void cursor_unref(zl_cursor *c)
{
    if (zl_atomic_add(&c->refcnt, -1) == 0) {
        zl_txn *t = c->txn;
        free(c->buf);
        free(c->offs);
        free(c->fmt);
        free(c->out);
        free(c->miss);
        free(c);
        txn_unref(t);
    }
}

/* An environment-level call in progress; 0 when the environment is closing. While
 * set_mapsize remaps the file, new calls wait for it to finish; with `nowait` they return
 * -1 instead (the GIL-keeping entry points must never wait for another thread). */
static int env_enter_mode(zl_env *e, int nowait)
{
    for (;;) {
        zl_atomic_add(&e->busy, 1);
        if (zl_atomic_load(&e->closing)) {
            zl_atomic_add(&e->busy, -1);
            return 0;
        }
        if (!zl_atomic_load(&e->resizing))
            return 1;
        zl_atomic_add(&e->busy, -1);
        if (nowait)
            return -1;
        zl_mutex_lock(&e->mtx);
        while (e->resizing && !e->closing)
            zl_cond_wait(&e->cond, &e->mtx);
        zl_mutex_unlock(&e->mtx);
    }
}

static int env_enter(zl_env *e) { return env_enter_mode(e, 0); }

static void env_leave(zl_env *e) { zl_atomic_add(&e->busy, -1); }

/* Enter the environment and, when given, one of its transactions (an operation that uses
 * both, like a copy of a txn's snapshot or beginning a child); 0 when either is closed. */
static int env_txn_enter(zl_env *e, zl_txn *t)
{
    if (!env_enter(e))
        return 0;
    if (t) {
        zl_atomic_add(&t->busy, 1);
        if (zl_atomic_load(&t->state) != ZL_LIVE) {
            zl_atomic_add(&t->busy, -1);
            env_leave(e);
            return 0;
        }
    }
    return 1;
}

#define TXN_ENTER(t)                                      \
    do {                                                  \
        zl_atomic_add(&(t)->busy, 1);                     \
        if (zl_atomic_load(&(t)->state) != ZL_LIVE) {     \
            zl_atomic_add(&(t)->busy, -1);                \
            return ZL_CLOSED;                             \
        }                                                 \
    } while (0)
#define TXN_LEAVE(t) zl_atomic_add(&(t)->busy, -1)

#define CURSOR_ENTER(c)                                                                  \
    do {                                                                                 \
        zl_atomic_add(&(c)->txn->busy, 1);                                               \
        if (zl_atomic_load(&(c)->txn->state) != ZL_LIVE || zl_atomic_load(&(c)->state) != ZL_LIVE) { \
            zl_atomic_add(&(c)->txn->busy, -1);                                          \
            return ZL_CLOSED;                                                            \
        }                                                                                \
    } while (0)
#define CURSOR_LEAVE(c) zl_atomic_add(&(c)->txn->busy, -1)

/* ---- environment ---------------------------------------------------------------------- */

/* Remember where the map is (for the offsets zl_get hands out with nocopy). */
static void note_map(zl_env *e)
{
    MDB_envinfo info;
    e->map = (char *)EE(e)->env_get_map(e->env);
    e->mapsize = EE(e)->env_info(e->env, &info) == 0 ? info.me_mapsize : 0;
}

int zl_env_open(int engine, const char *path, unsigned int flags, int mode, size_t map_size,
                unsigned int max_readers, unsigned int max_dbs, unsigned int max_spare,
                zl_env **out)
{
    const zl_engine *eng = engine_of(engine);
    zl_env *e;
    int rc;
    if (!eng)
        return EINVAL;
    if (!(e = calloc(1, sizeof(*e))))
        return ZL_NO_MEMORY;
    e->eng = eng;
    rc = EE(e)->env_create(&e->env);
    if (rc) {
        free(e);
        return rc;
    }
    if ((rc = EE(e)->env_set_mapsize(e->env, map_size)) ||
        (rc = EE(e)->env_set_maxreaders(e->env, max_readers)) ||
        (rc = EE(e)->env_set_maxdbs(e->env, max_dbs)) ||
        (rc = EE(e)->env_open(e->env, path, flags | MDB_NOTLS, (mdb_mode_t)mode))) {
        EE(e)->env_close(e->env);
        free(e);
        return rc;
    }
    if (max_spare) { /* 0 (the default, as py-lmdb): an ended read txn keeps no reader slot */
        e->spare = calloc(max_spare, sizeof(MDB_txn *));
        if (!e->spare) {
            EE(e)->env_close(e->env);
            free(e);
            return ZL_NO_MEMORY;
        }
    }
    e->max_spare = max_spare;
    {
        MDB_stat st;
        e->psize = EE(e)->env_stat(e->env, &st) == 0 ? st.ms_psize : 4096;
        e->maxkey = (size_t)EE(e)->env_get_maxkeysize(e->env);
    }
    note_map(e);
    e->refcnt = 1;
    e->pid = zl_getpid();
    zl_mutex_init(&e->mtx);
    zl_cond_init(&e->cond);
    env_list_add(e);
    *out = e;
    return 0;
}

static int txn_end(zl_txn *t, int commit);

/* Abort every live transaction of the environment (children before their parents). */
static void end_all_txns(zl_env *e)
{
    zl_txn *t;
    for (;;) {
        int pending = 0;
        zl_mutex_lock(&e->mtx);
        /* End children before their parents: pick a live txn without a live child. */
        for (t = e->txns; t; t = t->next) {
            if (zl_atomic_load(&t->state) != ZL_LIVE)
                continue;
            if (!t->child)
                break;
            pending = 1; /* its child is still being ended elsewhere */
        }
        if (t && zl_atomic_cas(&t->state, ZL_LIVE, ZL_ENDING))
            zl_atomic_add(&t->refcnt, 1);
        else if (t || pending)
            t = (zl_txn *)1; /* someone else is ending it: look again */
        zl_mutex_unlock(&e->mtx);
        if (!t)
            break;
        if (t == (zl_txn *)1) {
            zl_yield();
            continue;
        }
        txn_end(t, 0);
        txn_unref(t);
    }
}

/* Wait until no transaction is listed: ends still in progress on other threads. */
static void wait_no_txns(zl_env *e)
{
    zl_mutex_lock(&e->mtx);
    while (e->txns) {
        zl_mutex_unlock(&e->mtx);
        zl_yield();
        zl_mutex_lock(&e->mtx);
    }
    zl_mutex_unlock(&e->mtx);
}

void zl_env_close(zl_env *e)
{
    unsigned int i;
    zl_txn *pool;
    zl_mutex_lock(&e->mtx);
    if (e->closing) {
        zl_mutex_unlock(&e->mtx);
        return;
    }
    zl_atomic_add(&e->closing, 1);
    zl_cond_broadcast(&e->cond); /* write-txn and resize waiters return ZL_CLOSED */
    zl_mutex_unlock(&e->mtx);
    end_all_txns(e);
    wait_drained(&e->busy);
    wait_no_txns(e);
    zl_mutex_lock(&e->mtx); /* no struct is kept once closing is set */
    pool = e->freetxns;
    e->freetxns = NULL;
    e->nfreetxns = 0;
    zl_mutex_unlock(&e->mtx);
    free_pool(pool);
    if (e->pid == zl_getpid()) {
        for (i = 0; i < e->nspare; i++)
            EE(e)->txn_abort(e->spare[i]);
        e->nspare = 0;
        for (i = 0; i < e->ngetspare; i++)
            EE(e)->txn_abort(e->getspare[i]);
        e->ngetspare = 0;
        EE(e)->env_close(e->env);
    }
    e->env = NULL;
}

void zl_env_release(zl_env *e)
{
    if (e->pid == zl_getpid())
        zl_env_close(e);
    env_unref(e);
}

int zl_env_is_closed(zl_env *e) { return zl_atomic_load(&e->closing) != 0; }

/* 1 when the calling thread has the environment's write transaction open (so waiting for
 * another thread's write would wait forever). */
int zl_env_writing_here(zl_env *e)
{
    int here;
    zl_mutex_lock(&e->mtx);
    here = e->writer_active && zl_same_thread(e->writer_thread, zl_self());
    zl_mutex_unlock(&e->mtx);
    return here;
}

/* Environment-level calls in progress (transaction starts waiting for the writer among
 * them); for tests that need a thread to be inside one. */
long zl_env_calls(zl_env *e) { return zl_atomic_load(&e->busy); }

#define ENV_CALL(e, expr)        \
    do {                         \
        int rc_;                 \
        if (!env_enter(e))       \
            return ZL_CLOSED;    \
        rc_ = (expr);            \
        env_leave(e);            \
        return rc_;              \
    } while (0)

int zl_env_stat(zl_env *e, MDB_stat *st) { ENV_CALL(e, EE(e)->env_stat(e->env, st)); }
int zl_env_info(zl_env *e, MDB_envinfo *info) { ENV_CALL(e, EE(e)->env_info(e->env, info)); }
int zl_env_sync(zl_env *e, int force) { ENV_CALL(e, EE(e)->env_sync(e->env, force)); }
int zl_env_get_flags(zl_env *e, unsigned int *flags) { ENV_CALL(e, EE(e)->env_get_flags(e->env, flags)); }
int zl_env_get_maxreaders(zl_env *e, unsigned int *n) { ENV_CALL(e, EE(e)->env_get_maxreaders(e->env, n)); }
int zl_env_reader_check(zl_env *e, int *dead) { ENV_CALL(e, EE(e)->reader_check(e->env, dead)); }

int zl_env_get_maxkeysize(zl_env *e, int *n)
{
    if (!env_enter(e))
        return ZL_CLOSED;
    *n = EE(e)->env_get_maxkeysize(e->env);
    env_leave(e);
    return 0;
}

static int copy_common(zl_env *e, const char *path, int fd, unsigned int flags, zl_txn *t)
{
    int rc;
    if (!env_txn_enter(e, t))
        return ZL_CLOSED;
#ifdef _WIN32
    if (path)
        rc = EE(e)->env_copy3(e->env, path, flags, t ? t->txn : NULL);
    else
        rc = EE(e)->env_copyfd3(e->env, (HANDLE)_get_osfhandle(fd), flags, t ? t->txn : NULL);
#else
    if (path)
        rc = EE(e)->env_copy3(e->env, path, flags, t ? t->txn : NULL);
    else
        rc = EE(e)->env_copyfd3(e->env, fd, flags, t ? t->txn : NULL);
#endif
    if (t)
        zl_atomic_add(&t->busy, -1);
    env_leave(e);
    return rc;
}

int zl_env_copy(zl_env *e, const char *path, unsigned int flags, zl_txn *t)
{
    return copy_common(e, path, -1, flags, t);
}

int zl_env_copyfd(zl_env *e, int fd, unsigned int flags, zl_txn *t)
{
    return copy_common(e, NULL, fd, flags, t);
}

/* LMDB remaps the file, so nothing may point into the old map: like py-lmdb, every live
 * transaction (and so every cursor) of the environment is aborted first, and new
 * environment-level calls (including transaction starts) wait until the remap is done.
 * Refused (EINVAL) while this process has a write transaction, as LMDB itself does. */
int zl_env_set_mapsize(zl_env *e, size_t size)
{
    int rc = 0;
    if (!env_enter(e))
        return ZL_CLOSED;
    zl_mutex_lock(&e->mtx);
    if (e->closing)
        rc = ZL_CLOSED;
    else if (e->writer_active || e->resizing)
        rc = EINVAL;
    else
        zl_atomic_add(&e->resizing, 1); /* no writer can start from here on */
    zl_mutex_unlock(&e->mtx);
    if (rc) {
        env_leave(e);
        return rc;
    }
    while (zl_atomic_load(&e->busy) != 1) /* other env-level calls, incl. txn starts */
        zl_yield();
    end_all_txns(e);
    wait_no_txns(e);
    zl_mutex_lock(&e->mtx);
    rc = e->closing ? ZL_CLOSED : EE(e)->env_set_mapsize(e->env, size);
    if (!rc)
        note_map(e); /* no txn is live: none has a copy of the old one */
    zl_atomic_add(&e->resizing, -1);
    zl_cond_broadcast(&e->cond);
    zl_mutex_unlock(&e->mtx);
    env_leave(e);
    return rc;
}

typedef struct {
    char *s;
    size_t len, cap;
} strbuf;

static int collect_reader(const char *msg, void *ctx)
{
    strbuf *b = ctx;
    size_t n = strlen(msg);
    if (grow((void **)&b->s, &b->cap, b->len + n + 1, 1))
        return -1;
    memcpy(b->s + b->len, msg, n + 1);
    b->len += n;
    return 0;
}

int zl_env_readers(zl_env *e, char **out)
{
    strbuf b = {NULL, 0, 0};
    int rc;
    if (!env_enter(e))
        return ZL_CLOSED;
    rc = EE(e)->reader_list(e->env, collect_reader, &b);
    env_leave(e);
    if (rc < 0) {
        free(b.s);
        return ZL_NO_MEMORY;
    }
    if (!b.s && collect_reader("", &b)) /* always hand back a string */
        return ZL_NO_MEMORY;
    *out = b.s;
    return 0;
}

/* ---- transactions --------------------------------------------------------------------- */

static void writer_release(zl_env *e)
{
    zl_mutex_lock(&e->mtx);
    e->writer_active = 0;
    zl_cond_broadcast(&e->cond);
    zl_mutex_unlock(&e->mtx);
}

/* A zeroed zl_txn (caller holds e->mtx): a kept one, whose scratch buffer stays, or a new
 * one. */
static zl_txn *txn_pop(zl_env *e)
{
    zl_txn *t = e->freetxns;
    if (t) {
        char *scratch = t->scratch;
        size_t scratch_cap = t->scratch_cap;
        e->freetxns = t->next;
        e->nfreetxns--;
        memset(t, 0, sizeof(*t));
        t->scratch = scratch;
        t->scratch_cap = scratch_cap;
        return t;
    }
    return calloc(1, sizeof(*t));
}

int zl_txn_begin(zl_env *e, zl_txn *parent, int flags, zl_txn **out)
{
    zl_txn *t;
    long pid;
    MDB_txn *txn = NULL;
    int rc = 0, own_writer = 0;
    int write = (flags & ZL_TXN_WRITE) != 0;

    if (parent && !write)
        return ZL_NESTED_READONLY;
    if ((flags & ZL_TXN_NOWAIT) && !parent && !write) {
        int in = env_enter_mode(e, 1);
        if (in <= 0)
            return in ? ZL_WOULD_WAIT : ZL_CLOSED;
    } else if (!env_txn_enter(e, parent)) {
        return ZL_CLOSED;
    }
    if (!parent && write) {
        for (;;) {
            zl_mutex_lock(&e->mtx);
            if (e->writer_active && zl_same_thread(e->writer_thread, zl_self()))
                rc = ZL_BUSY_SAME_THREAD;
            while (!rc && e->writer_active && !e->closing)
                zl_cond_wait(&e->cond, &e->mtx);
            if (!rc && e->closing)
                rc = ZL_CLOSED;
            if (!rc && e->resizing) {
                /* a resize started while we waited: let it drain, then try again */
                zl_mutex_unlock(&e->mtx);
                env_leave(e);
                if (!env_enter(e))
                    return ZL_CLOSED;
                continue;
            }
            if (!rc) {
                e->writer_active = 1;
                e->writer_thread = zl_self();
                own_writer = 1;
            }
            zl_mutex_unlock(&e->mtx);
            break;
        }
        if (rc) {
            env_leave(e);
            return rc;
        }
    }

    pid = zl_getpid();
    /* A reset read txn of this process is renewed under the lock (renewing one that holds
     * its reader slot takes no LMDB lock), so taking it and linking the txn is one section.
     * A forked child never touches the parent's spares. */
    if (!write && e->max_spare && pid == e->pid) {
        zl_mutex_lock(&e->mtx);
        if (e->nspare && !e->closing) {
            txn = e->spare[--e->nspare];
            if (EE(e)->txn_renew(txn)) {
                EE(e)->txn_abort(txn);
                txn = NULL;
            }
        }
        if (!txn)
            zl_mutex_unlock(&e->mtx);
    }
    if (!txn) {
        rc = EE(e)->txn_begin(e->env, parent ? parent->txn : NULL, write ? 0 : MDB_RDONLY, &txn);
        if (rc)
            goto fail;
        zl_mutex_lock(&e->mtx);
    }
    /* The struct, in the same section: a kept one or a new one (calloc never waits). */
    t = txn_pop(e);
    if (!t || e->closing) {
        zl_mutex_unlock(&e->mtx);
        EE(e)->txn_abort(txn);
        if (t)
            txn_free(t);
        rc = t ? ZL_CLOSED : ZL_NO_MEMORY;
        goto fail;
    }
    t->env = e;
    t->eng = e->eng;
    t->refcnt = 1;
    t->write = write;
    t->nocopy = (flags & ZL_TXN_NOCOPY) != 0;
    t->pid = pid;
    t->parent = parent;
    t->txn = txn;
    t->dbi = 1; /* MAIN_DBI; Python sets another default db before handing the txn out */
    t->map = e->map;
    t->mapsize = e->mapsize;
    zl_atomic_add(&e->refcnt, 1);
    if (parent) {
        zl_atomic_add(&parent->refcnt, 1);
        parent->child = t;
    }
    t->next = e->txns;
    if (e->txns)
        e->txns->prev = t;
    e->txns = t;
    zl_mutex_unlock(&e->mtx);

    if (parent)
        zl_atomic_add(&parent->busy, -1);
    env_leave(e);
    *out = t;
    return 0;

fail:
    if (own_writer)
        writer_release(e);
    if (parent)
        zl_atomic_add(&parent->busy, -1);
    env_leave(e);
    return rc;
}

static void cursor_detach(zl_cursor *c)
{
    /* caller holds env->mtx; c->state already DEAD and no operation is running on it */
    zl_txn *t = c->txn;
    if (c->cur && t->pid == zl_getpid())
        CE(c)->cursor_close(c->cur);
    c->cur = NULL;
    c->positioned = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->cursors = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* End a txn whose state this thread moved LIVE -> ENDING. */
static int txn_end(zl_txn *t, int commit)
{
    zl_env *e = t->env;
    zl_txn *child;
    zl_cursor *c;
    int rc = 0, mine;

    wait_drained(&t->busy);
    /* A child still being ended on another thread (its commit merges into this txn) must
     * finish first: LMDB would otherwise free it under that commit. Its txn_end clears
     * t->child when done. LMDB ends a child with its parent; ours is ended first so it
     * never dangles. The loop leaves with e->mtx held and no child. */
    for (;;) {
        zl_mutex_lock(&e->mtx);
        child = t->child;
        if (!child)
            break;
        if (zl_atomic_cas(&child->state, ZL_LIVE, ZL_ENDING)) {
            zl_atomic_add(&child->refcnt, 1);
            zl_mutex_unlock(&e->mtx);
            txn_end(child, 0);
            txn_unref(child);
            continue;
        }
        zl_mutex_unlock(&e->mtx);
        zl_yield();
    }

    while ((c = t->cursors) != NULL) {
        zl_atomic_cas(&c->state, ZL_LIVE, ZL_DEAD);
        cursor_detach(c);
    }

    mine = t->pid == zl_getpid(); /* after fork() the child only unlinks and frees */
    if (!mine && commit && t->write)
        rc = ZL_FORKED; /* the parent's transaction: the child's writes to it are lost */
    if (mine && !t->write && !t->parent && (!commit || !t->opened_dbi)) {
        /* A read txn with no database handle to publish: commit and abort are the same, and
         * (as py-lmdb does) it is reset for the next begin when the spare cache has room.
         * Neither call takes an LMDB lock, so this stays in the one critical section. */
        /* Not in a fork child (of an environment it inherited): its begins never renew
         * (see zl_txn_begin), so a kept txn would hold a reader slot, in the table both
         * processes share, until the parent closes the environment. */
        if (e->nspare < e->max_spare && !e->closing && t->pid == e->pid) {
            TE(t)->txn_reset(t->txn);
            e->spare[e->nspare++] = t->txn;
        } else {
            TE(t)->txn_abort(t->txn);
        }
    } else {
        zl_mutex_unlock(&e->mtx);
        if (mine) {
            if (commit)
                rc = TE(t)->txn_commit(t->txn);
            else
                TE(t)->txn_abort(t->txn);
        }
        zl_mutex_lock(&e->mtx);
    }
    t->txn = NULL;

    if (t->parent) {
        if (t->parent->child == t)
            t->parent->child = NULL;
        t->parent->mutations++; /* the parent's cursors must re-read their position */
    }
    if (t->prev)
        t->prev->next = t->next;
    else if (e->txns == t)
        e->txns = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->next = t->prev = NULL;
    zl_atomic_cas(&t->state, ZL_ENDING, ZL_DEAD);
    zl_mutex_unlock(&e->mtx);

    if (t->parent) {
        txn_unref(t->parent);
        t->parent = NULL;
    } else if (t->write && (mine || e->fork_writer)) {
        /* In a fork child: the inherited write transaction of the forking thread gives the
         * gate back (LMDB's write lock it holds is the parent's, released by the parent). */
        e->fork_writer = 0;
        writer_release(e);
    }
    return rc;
}

int zl_txn_commit(zl_txn *t)
{
    if (!zl_atomic_cas(&t->state, ZL_LIVE, ZL_ENDING))
        return ZL_CLOSED;
    return txn_end(t, 1);
}

int zl_txn_abort(zl_txn *t)
{
    if (!zl_atomic_cas(&t->state, ZL_LIVE, ZL_ENDING))
        return 0;
    txn_end(t, 0);
    return 0;
}

void zl_txn_release(zl_txn *t)
{
    /* After fork() the child only frees memory: the txn and its reader slot are the parent's. */
    if (zl_atomic_cas(&t->state, ZL_LIVE, ZL_ENDING))
        txn_end(t, 0);
    txn_unref(t);
}

/* zl_txn_commit (commit=1) / zl_txn_abort (0) for a read transaction, keeping the GIL on
 * CPython: ending one never waits for another thread as long as no operation holds it busy
 * (a ZL_HELD value is copied by Python code, so its hold may span a GIL hand-over). Returns
 * 0, ZL_CLOSED (already ended), or ZL_WOULD_WAIT with nothing done (a write transaction, or
 * a busy one): then call zl_txn_commit / zl_txn_abort. */
int zl_txn_end_read(zl_txn *t, int commit)
{
    if (t->write || zl_atomic_load(&t->busy))
        return ZL_WOULD_WAIT;
    if (!zl_atomic_cas(&t->state, ZL_LIVE, ZL_ENDING))
        return ZL_CLOSED;
    /* An operation that entered meanwhile (free-threaded builds) finishes on its own. */
    return txn_end(t, commit);
}

/* One-argument forms (cffi passes a single argument without building a tuple). */
int zl_txn_commit_read(zl_txn *t) { return zl_txn_end_read(t, 1); }
int zl_txn_abort_read(zl_txn *t) { return zl_txn_end_read(t, 0); }

/* zl_txn_release keeping the GIL (the destructor Python gives a transaction's struct):
 * nothing can hold a transaction busy once Python dropped it (a held value is released by
 * the caller that still references it), and aborting takes no lock another thread keeps
 * while it waits for the GIL: LMDB's abort does no I/O, and a read txn's takes no lock. */
void zl_txn_drop(zl_txn *t)
{
    long held;
    /* For the same reason a hold still counted now was leaked (an exception between a
     * ZL_HELD result and its zl_txn_unhold): let it go, or the end below (and any close of
     * the environment) would wait for it forever. */
    while ((held = zl_atomic_load(&t->busy)) > 0)
        zl_atomic_cas(&t->busy, held, 0);
    if (zl_atomic_cas(&t->state, ZL_LIVE, ZL_ENDING))
        txn_end(t, 0);
    txn_unref(t);
}

int zl_txn_alive(zl_txn *t) { return zl_atomic_load(&t->state) == ZL_LIVE; }

int zl_txn_id(zl_txn *t, size_t *id)
{
    TXN_ENTER(t);
    *id = TE(t)->txn_id(t->txn);
    TXN_LEAVE(t);
    return 0;
}

int zl_dbi_open(zl_txn *t, const char *name, unsigned int flags, unsigned int *dbi)
{
    int rc;
    MDB_dbi d;
    TXN_ENTER(t);
    rc = TE(t)->dbi_open(t->txn, name, flags, &d);
    if (!rc) {
        *dbi = d;
        t->opened_dbi = 1; /* a read txn must then really commit to publish the handle */
    }
    TXN_LEAVE(t);
    return rc;
}

int zl_dbi_flags(zl_txn *t, unsigned int dbi, unsigned int *flags)
{
    int rc;
    TXN_ENTER(t);
    rc = TE(t)->dbi_flags(t->txn, dbi, flags);
    TXN_LEAVE(t);
    return rc;
}

int zl_stat(zl_txn *t, unsigned int dbi, MDB_stat *st)
{
    int rc;
    TXN_ENTER(t);
    rc = TE(t)->stat(t->txn, dbi, st);
    TXN_LEAVE(t);
    return rc;
}

int zl_drop(zl_txn *t, unsigned int dbi, int del)
{
    int rc;
    zl_cursor *c, *next;
    zl_env *e = t->env;
    TXN_ENTER(t);
    /* LMDB frees the db's cursors on delete; ours are closed first so none dangles. */
    zl_mutex_lock(&e->mtx);
    for (c = t->cursors; c; c = next) {
        next = c->next;
        if (c->dbi == dbi && !del)
            c->after_miss = 0; /* emptied: LMDB unpositions them, the next read notices */
        if (c->dbi != dbi || !del)
            continue;
        zl_atomic_cas(&c->state, ZL_LIVE, ZL_DEAD);
        cursor_detach(c);
    }
    zl_mutex_unlock(&e->mtx);
    rc = TE(t)->drop(t->txn, dbi, del);
    t->mutations++;
    TXN_LEAVE(t);
    return rc;
}

/* ---- data access on a transaction ----------------------------------------------------- */

static int check_value(zl_txn *t, const MDB_val *v);


/* Look key up. Returns, for the calling thread (see zl_thread_vp): CPython's arena slot
 * offset + the length of the copy; in a nocopy txn ZL_MAPPED | map offset << 22 | length;
 * else the length (the value, or its copy, at zl_thread_vp()); MDB_NOTFOUND; ZL_HELD (a
 * large value still in the map, at zl_thread_vp()/zl_thread_vl(): release with
 * zl_txn_unhold after copying); or another error code (LMDB's, or a negated errno). */
long long zl_get(zl_txn *t, unsigned int dbi, const char *key, size_t klen)
{
    MDB_val k, v;
    int rc;
    TXN_ENTER(t);
    { /* LMDB checks the txn state before the key size */
        k.mv_size = klen;
        k.mv_data = (void *)key;
        rc = TE(t)->get(t->txn, dbi, &k, &v);
        if (rc == 0 && v.mv_size > 2048)
            rc = check_value(t, &v);
        if (rc == 0) {
            if (t->nocopy) {
                /* In the map: its offset and length in the result (ZL_MAPPED), as threads
                 * may share a read transaction; else (a dirty page, a huge map or value)
                 * Python reads zl_thread_vp(). */
                char *p = (char *)v.mv_data;
                if (t->map && p >= t->map &&
                    (size_t)(p - t->map) + v.mv_size <= t->mapsize &&
                    (long long)(p - t->map) < ZL_MAPPED_OFF_LIMIT &&
                    (long long)v.mv_size < ZL_MAPPED_LEN_LIMIT) {
                    long long r = ZL_MAPPED | ((long long)(p - t->map) << ZL_MAPPED_LEN_BITS) |
                                  (long long)v.mv_size;
                    TXN_LEAVE(t);
                    return r;
                }
                zl_tvp = p;
            } else if (v.mv_size == 0) {
                zl_tvp = v.mv_data; /* empty values are not copied */
            } else if (v.mv_size <= ZL_COPY_MAX) {
#ifndef PYPY_VERSION
                /* CPython slices one buffer object per slot over the arena: the result is
                 * this thread's slot offset plus the length (>= ZL_SLOT_SIZE). */
                long slot = thread_slot();
                if (slot > 0) {
                    memcpy(zl_arena + slot, v.mv_data, v.mv_size);
                    TXN_LEAVE(t);
                    return (long long)slot + (long long)v.mv_size;
                }
#endif
                /* PyPy unpacks from zl_thread_vp(), as CPython does without a slot. */
#ifdef PYPY_VERSION
                if (!zl_tcopy)
                    thread_register(0); /* free the buffer when the thread ends */
#endif
                if (grow((void **)&zl_tcopy, &zl_tcopy_cap, v.mv_size, 1)) {
                    rc = ZL_NO_MEMORY;
                } else {
                    memcpy(zl_tcopy, v.mv_data, v.mv_size);
                    zl_tvp = zl_tcopy;
                }
            } else {
                zl_tvp = v.mv_data;
                zl_tvl = v.mv_size;
                return ZL_HELD; /* stays busy until zl_txn_unhold */
            }
        } else if (rc == MDB_BAD_VALSIZE && klen > t->env->maxkey) {
            rc = MDB_NOTFOUND; /* an oversize key simply is not there */
        }
    }
    TXN_LEAVE(t);
    if (rc)
        return rc > 0 ? -rc : rc;
    return (long long)v.mv_size;
}

/* zl_get on the transaction's default database (one argument less to convert). */
long long zl_get_default(zl_txn *t, const char *key, size_t klen)
{
    return zl_get(t, t->dbi, key, klen);
}

/* zl_get of the key that Python copied into this thread's key buffer (zl_thread_kbuf; not
 * the transaction's, which another thread may be using). On PyPy a bytes argument to a
 * char * parameter costs ~400 instructions per call (a raw exchange buffer malloc'd and
 * freed, the string made non-movable and NUL-terminated); a slice assignment into a buffer
 * over the key buffer plus this call costs a fraction of that. */
long long zl_getk(zl_txn *t, unsigned int dbi, size_t klen)
{
    if (klen > ZL_KEYBUF)
        return -EINVAL;
    return zl_get(t, dbi, zl_tkbuf, klen);
}

/* End the hold a ZL_HELD result left on the transaction. */
void zl_txn_unhold(zl_txn *t) { TXN_LEAVE(t); }

/* ---- the ORM's index helpers ------------------------------------------------------------
 * An ORM index record holds, as its value, the key of a table record without the table's
 * slot prefix; both live in the same database. */

/* Record keys built by zl_get_via: on the stack up to this size (every key of LMDB 0.9 and
 * of LMDB 1.0 with 4 KiB pages), else on the heap. */
#define ZL_VIA_STACK 2048

/* Look key up in dbi, append its value to prefix, and look the key so made up in dbi too:
 * one crossing for an index lookup that returns the record. want: the length the first
 * value must have (0: any); a first value of another length answers ZL_VIA_SIZE. A missing
 * or empty first value, or a made-up key longer than LMDB takes, answers MDB_NOTFOUND.
 * Otherwise the result is zl_get's (the record's length, ZL_HELD, MDB_NOTFOUND, an error). */
long long zl_get_via(zl_txn *t, unsigned int dbi, const char *key, size_t klen,
                     const char *prefix, size_t plen, size_t want)
{
    MDB_val k, v;
    char stack[ZL_VIA_STACK];
    char *buf = stack;
    size_t n = 0;
    long long res;
    int rc;
    TXN_ENTER(t);
    {
        k.mv_size = klen;
        k.mv_data = (void *)key;
        rc = TE(t)->get(t->txn, dbi, &k, &v);
        if (rc == 0 && v.mv_size > 2048)
            rc = check_value(t, &v); /* as zl_get: an overflow page must be whole */
        if (rc == 0) {
            n = plen + v.mv_size;
            if (v.mv_size == 0) {
                rc = MDB_NOTFOUND; /* an empty value names nothing */
            } else if (want && v.mv_size != want) {
                rc = ZL_VIA_SIZE;
            } else if (n > t->env->maxkey) {
                rc = MDB_NOTFOUND; /* no record can have that key */
            } else {
                if (n > sizeof(stack) && !(buf = malloc(n)))
                    rc = ZL_NO_MEMORY;
                else {
                    memcpy(buf, prefix, plen);
                    memcpy(buf + plen, v.mv_data, v.mv_size); /* copied while entered */
                }
            }
        } else if (rc == MDB_BAD_VALSIZE && klen > t->env->maxkey) {
            rc = MDB_NOTFOUND; /* an oversize key simply is not there */
        }
    }
    TXN_LEAVE(t);
    if (rc)
        return rc > 0 ? -rc : rc;
    res = zl_get(t, dbi, buf, n); /* enters the transaction again (it may end meanwhile) */
    if (buf != stack)
        free(buf);
    return res;
}

int zl_put(zl_txn *t, unsigned int dbi, const char *key, size_t klen,
           const char *val, size_t vlen, unsigned int flags)
{
    MDB_val k, v;
    int rc;
    TXN_ENTER(t);
    { /* LMDB checks the key size after the read-only check */
        k.mv_size = klen;
        k.mv_data = (void *)key;
        v.mv_size = vlen;
        v.mv_data = (void *)val;
        rc = TE(t)->put(t->txn, dbi, &k, &v, flags);
        t->mutations++;
    }
    TXN_LEAVE(t);
    return rc;
}

int zl_del(zl_txn *t, unsigned int dbi, const char *key, size_t klen,
           const char *val, size_t vlen)
{
    MDB_val k, v;
    int rc;
    TXN_ENTER(t);
    { /* LMDB checks the key size after the read-only check */
        k.mv_size = klen;
        k.mv_data = (void *)key;
        v.mv_size = vlen;
        v.mv_data = (void *)val;
        rc = TE(t)->del(t->txn, dbi, &k, vlen ? &v : NULL);
        if (rc == MDB_BAD_VALSIZE && klen > t->env->maxkey)
            rc = MDB_NOTFOUND;
        t->mutations++;
    }
    TXN_LEAVE(t);
    return rc;
}

static int save_old(zl_txn *t, MDB_val *v)
{
    if (grow((void **)&t->scratch, &t->scratch_cap, v->mv_size + 1, 1))
        return ZL_NO_MEMORY;
    memcpy(t->scratch, v->mv_data, v->mv_size);
    t->vp = t->scratch;
    t->vl = v->mv_size;
    return 0;
}

/* Store val under key and hand back the previous (first) value in t->vp/vl.
 * On a dupsort db every old duplicate is removed first. */
static int cursor_get(zl_cursor *c, int op, MDB_val *k, MDB_val *v);

static int replace_on(zl_txn *t, MDB_cursor *cur, zl_cursor *c, const char *key,
                      size_t klen, const char *val, size_t vlen)
{
    /* Same steps as py-lmdb: dupsort dbs look the key up first, others try a no-overwrite
     * put, so errors come in the same order. With a zl_cursor ``c`` (Cursor.replace) the
     * lookup goes through its bookkeeping, so the cursor ends on the new item. */
    MDB_val k, v;
    unsigned int dflags = 0;
    int rc;
    k.mv_size = klen;
    k.mv_data = (void *)key;
    v.mv_size = vlen;
    v.mv_data = (void *)val;
    t->vp = NULL;
    t->vl = 0;
    if ((rc = TE(t)->dbi_flags(t->txn, TE(t)->cursor_dbi(cur), &dflags)))
        return rc;
    t->stage = 0;
    if (dflags & MDB_DUPSORT) {
        rc = c ? cursor_get(c, MDB_SET_KEY, &k, &v) : TE(t)->cursor_get(cur, &k, &v, MDB_SET_KEY);
        if (rc == 0) {
            if ((rc = save_old(t, &v)))
                return rc;
            t->stage = 1;
            rc = TE(t)->cursor_del(cur, MDB_NODUPDATA);
            t->mutations++;
            if (rc)
                return rc;
        } else if (rc != MDB_NOTFOUND) {
            return rc;
        }
    } else {
        t->stage = 2;
        rc = TE(t)->cursor_put(cur, &k, &v, MDB_NOOVERWRITE);
        if (c && (rc == 0 || rc == MDB_KEYEXIST))
            c->after_miss = 0;
        t->mutations++;
        if (rc != MDB_KEYEXIST)
            return rc; /* stored (no old value), or failed */
        if ((rc = save_old(t, &v))) /* LMDB handed back the existing value */
            return rc;
    }
    k.mv_size = klen;
    k.mv_data = (void *)key;
    v.mv_size = vlen;
    v.mv_data = (void *)val;
    t->stage = 2;
    rc = TE(t)->cursor_put(cur, &k, &v, 0); /* py-lmdb counts no mutation for this put */
    if (c && rc == 0)
        c->after_miss = 0;
    return rc;
}

static int pop_on(zl_txn *t, MDB_cursor *cur, const char *key, size_t klen)
{
    MDB_val k, v;
    int rc;
    k.mv_size = klen;
    k.mv_data = (void *)key;
    t->stage = 0;
    rc = TE(t)->cursor_get(cur, &k, &v, MDB_SET_KEY);
    if (rc)
        return rc;
    if ((rc = save_old(t, &v)))
        return rc;
    t->stage = 1;
    rc = TE(t)->cursor_del(cur, 0);
    t->mutations++;
    return rc;
}

int zl_replace(zl_txn *t, unsigned int dbi, const char *key, size_t klen,
               const char *val, size_t vlen)
{
    MDB_cursor *cur;
    int rc;
    TXN_ENTER(t);
    t->stage = 3;
    if (!(rc = TE(t)->cursor_open(t->txn, dbi, &cur))) {
        rc = replace_on(t, cur, NULL, key, klen, val, vlen);
        TE(t)->cursor_close(cur);
    }
    TXN_LEAVE(t);
    return rc;
}

int zl_pop(zl_txn *t, unsigned int dbi, const char *key, size_t klen)
{
    MDB_cursor *cur;
    int rc;
    TXN_ENTER(t);
    t->stage = 3;
    if (!(rc = TE(t)->cursor_open(t->txn, dbi, &cur))) {
        rc = pop_on(t, cur, key, klen);
        TE(t)->cursor_close(cur);
    }
    TXN_LEAVE(t);
    return rc;
}

/* ---- cursors -------------------------------------------------------------------------- */

int zl_cursor_open(zl_txn *t, unsigned int dbi, zl_cursor **out)
{
    zl_cursor *c;
    zl_env *e = t->env;
    int rc;
    TXN_ENTER(t);
    c = calloc(1, sizeof(*c));
    if (!c) {
        TXN_LEAVE(t);
        return ZL_NO_MEMORY;
    }
    rc = TE(t)->cursor_open(t->txn, dbi, &c->cur);
    if (rc) {
        free(c);
        TXN_LEAVE(t);
        return rc;
    }
    c->txn = t;
    c->eng = t->eng;
    c->dbi = dbi;
    {
        unsigned int f = 0;
        if (TE(t)->dbi_flags(t->txn, dbi, &f) == 0)
            c->dupsort = (f & MDB_DUPSORT) != 0;
    }
    c->refcnt = 1;
    c->last_mutation = t->mutations;
    zl_atomic_add(&t->refcnt, 1);
    zl_mutex_lock(&e->mtx);
    c->next = t->cursors;
    if (t->cursors)
        t->cursors->prev = c;
    t->cursors = c;
    zl_mutex_unlock(&e->mtx);
    TXN_LEAVE(t);
    *out = c;
    return 0;
}

int zl_cursor_close(zl_cursor *c)
{
    zl_txn *t = c->txn;
    zl_env *e = t->env;
    if (!zl_atomic_cas(&c->state, ZL_LIVE, ZL_DEAD))
        return 0;
    wait_drained(&t->busy);
    zl_mutex_lock(&e->mtx);
    if (c->cur) /* not already detached by the end of its txn */
        cursor_detach(c);
    zl_mutex_unlock(&e->mtx);
    return 0;
}

void zl_cursor_release(zl_cursor *c)
{
    zl_cursor_close(c);
    cursor_unref(c);
}

static void set_current(zl_cursor *c, int rc, MDB_val *k, MDB_val *v)
{
    if (rc == 0) {
        c->kp = k->mv_data;
        c->kl = k->mv_size;
        c->vp = v->mv_data;
        c->vl = v->mv_size;
        c->positioned = 1;
    } else {
        c->positioned = 0;
        c->kl = c->vl = 0;
    }
    c->last_mutation = c->txn->mutations;
}

/* LMDB 0.9 bug guard. A failed MDB_SET/SET_KEY/SET_RANGE/GET_BOTH(_RANGE) on a dupsort db can
 * leave LMDB's cursor "initialized" at the insertion point while its duplicate sub-cursor
 * still describes another key; a following MDB_NEXT(_DUP)/MDB_PREV(_DUP) then walks a stale
 * sub-tree (wrong data, MDB_CORRUPTED, or a crash; py-lmdb crashes there too). cursor_get
 * remembers such a miss; zl_cursor_op then re-seats the cursor with MDB_SET_RANGE on the
 * missed key first, which initializes the sub-cursor properly, and completes the move the
 * way LMDB means it: on a key with duplicates NEXT/NEXT_DUP give its first duplicate and
 * PREV/PREV_DUP its last; otherwise the move runs unchanged from the re-seated cursor. */
static int is_lookup_op(int op)
{
    return op == MDB_SET || op == MDB_SET_KEY || op == MDB_SET_RANGE || op == MDB_GET_BOTH ||
           op == MDB_GET_BOTH_RANGE;
}

static void note_miss(zl_cursor *c, int op, int rc, const MDB_val *k)
{
    MDB_stat st;
    /* (A lookup in an empty tree fails before touching the cursor: nothing to guard.) */
    if (rc == MDB_NOTFOUND && c->dupsort && is_lookup_op(op) && k->mv_size &&
        CE(c)->stat(c->txn->txn, c->dbi, &st) == 0 && st.ms_entries) {
        if (!grow((void **)&c->miss, &c->miss_cap, k->mv_size, 1)) {
            memcpy(c->miss, k->mv_data, k->mv_size);
            c->miss_len = k->mv_size;
            c->after_miss = 1;
        }
    } else if (rc == 0 && op != MDB_GET_CURRENT) {
        c->after_miss = 0; /* LMDB moved the cursor for real: sub-cursor rebuilt */
    }
}

/* Hardening beyond py-lmdb's patches: LMDB does not check that an overflow value (its size
 * comes from the leaf node) ends inside the file, so a crafted size makes any copy run off
 * the end of the mapped file (SIGBUS/SIGSEGV; py-lmdb crashes there). A value larger than
 * half a page always lives on overflow pages, right after a 16-byte page header that holds
 * its page number; in read-only txns all pages lie in the map below the last page of the
 * newest meta, which bounds the value. Write txns keep dirty overflow pages outside the
 * map and are left alone. Returns MDB_CORRUPTED for an out-of-bounds value. */
static int check_value(zl_txn *t, const MDB_val *v)
{
    MDB_envinfo info;
    size_t psize = t->env->psize, pgno, room, hdr = TE(t)->page_header;
    const char *page = (const char *)v->mv_data - hdr; /* the overflow page's header */
    unsigned short flags;
    if (t->write || v->mv_size <= psize / 2)
        return 0;
    if (TE(t)->env_info(t->env->env, &info))
        return 0;
    memcpy(&pgno, page, sizeof(pgno));              /* the header's first field */
    memcpy(&flags, page + hdr - 6, sizeof(flags)); /* then flags, lower, upper (2 each) */
    if (!(flags & 0x04) || pgno > info.me_last_pgno) /* P_OVERFLOW */
        return MDB_CORRUPTED;
    room = (info.me_last_pgno + 1 - pgno) * psize - hdr;
    return v->mv_size > room ? MDB_CORRUPTED : 0;
}

static int cursor_get(zl_cursor *c, int op, MDB_val *k, MDB_val *v)
{
    MDB_val asked = *k;
    int rc = CE(c)->cursor_get(c->cur, k, v, (MDB_cursor_op)op);
    /* Lookups and key-level moves rebuild LMDB's duplicate sub-cursor from the tree; moves
     * among duplicates and GET_CURRENT reuse it (see del_resynced). */
    if (rc == 0 && (op == MDB_FIRST || op == MDB_LAST || op == MDB_NEXT_NODUP ||
                    op == MDB_PREV_NODUP || is_lookup_op(op)))
        c->seat_mutation = c->txn->mutations;
    if (rc == 0 && v->mv_size > 2048 && op != MDB_GET_MULTIPLE && op != MDB_NEXT_MULTIPLE)
        rc = check_value(c->txn, v); /* a cheap size test first: only overflow values */
    if (c->dupsort)
        note_miss(c, op, rc, &asked);
    if (rc == 0 && (op == MDB_FIRST_DUP || op == MDB_LAST_DUP)) {
        MDB_val d; /* these ops return only the value: fetch the key too */
        rc = CE(c)->cursor_get(c->cur, k, &d, MDB_GET_CURRENT);
    }
    set_current(c, rc, k, v);
    return rc;
}

int zl_cursor_op(zl_cursor *c, int op, const char *key, size_t klen, const char *val, size_t vlen)
{
    MDB_val k, v;
    int rc;
    CURSOR_ENTER(c);
    k.mv_size = klen;
    k.mv_data = (void *)key;
    v.mv_size = vlen;
    v.mv_data = (void *)val;
    if (op == MDB_SET_RANGE && klen == 0)
        op = MDB_FIRST;
    if (op == MDB_GET_CURRENT && !c->positioned) {
        rc = EINVAL;
    } else if (c->after_miss && (op == MDB_NEXT || op == MDB_NEXT_DUP || op == MDB_PREV ||
                                 op == MDB_PREV_DUP)) {
        size_t n = 0;
        k.mv_size = c->miss_len;
        k.mv_data = c->miss;
        c->after_miss = 0;
        rc = CE(c)->cursor_get(c->cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && CE(c)->cursor_count(c->cur, &n) == 0 && n > 1) {
            rc = cursor_get(c, (op == MDB_NEXT || op == MDB_NEXT_DUP) ? MDB_GET_CURRENT
                                                                      : MDB_LAST_DUP, &k, &v);
        } else if (rc == 0) {
            rc = cursor_get(c, op, &k, &v);
        } else if (rc == MDB_NOTFOUND) {
            /* The missed key is past the last one (LMDB would read a node beyond the page
             * end): forward moves find nothing, backward ones land on the last item. */
            if (op == MDB_PREV || op == MDB_PREV_DUP)
                rc = cursor_get(c, MDB_LAST, &k, &v);
            else
                set_current(c, rc, &k, &v);
        } else {
            set_current(c, rc, &k, &v);
        }
    } else {
        rc = cursor_get(c, op, &k, &v);
        if (rc == MDB_BAD_VALSIZE && klen > c->txn->env->maxkey)
            rc = MDB_NOTFOUND; /* an oversize key simply is not there */
    }
    CURSOR_LEAVE(c);
    return rc;
}

/* Publish the current item in c->ok/okl and c->ov/ovl: the parts asked for (ZL_FILL_KEYS,
 * ZL_FILL_VALUES) are copied into c->out when they fit in ZL_COPY_MAX, else the map
 * pointers are published and ZL_HELD returned (the caller keeps the txn busy). With
 * ZL_NOCOPY (buffers=True) map pointers are published as they are; ZL_PRELOAD then touches
 * every page of the value, so that a memoryview handed out for it does not take its page
 * faults later, one at a time (py-lmdb does the same). Unpositioned: both are empty. */
static int copy_out(zl_cursor *c, int what)
{
    size_t need = 0;
    if (!c->positioned) {
        c->ok = c->ov = (char *)"";
        c->okl = c->ovl = 0;
        return 0;
    }
    c->ok = c->kp;
    c->okl = c->kl;
    c->ov = c->vp;
    c->ovl = c->vl;
    if (what & ZL_NOCOPY) {
        if ((what & ZL_PRELOAD) && c->vl > 4096) {
            volatile char sink = 0;
            size_t i;
            for (i = 0; i < c->vl; i += 4096)
                sink += c->vp[i];
            (void)sink;
        }
        return 0;
    }
    if (what & ZL_FILL_KEYS)
        need += c->kl;
    if (what & ZL_FILL_VALUES)
        need += c->vl;
    if (need > ZL_COPY_MAX)
        return ZL_HELD;
    if (grow((void **)&c->out, &c->out_cap, need + 1, 1))
        return ZL_NO_MEMORY;
    if (what & ZL_FILL_KEYS) {
        memcpy(c->out, c->kp, c->kl);
        c->ok = c->out;
    }
    if (what & ZL_FILL_VALUES) {
        char *dst = c->out + ((what & ZL_FILL_KEYS) ? c->kl : 0);
        memcpy(dst, c->vp, c->vl);
        c->ov = dst;
    }
    return 0;
}

/* Refresh the current item if the txn changed since the cursor last looked, and publish it
 * (see copy_out). ZL_HELD: the caller copies, then calls zl_cursor_unhold. */
int zl_cursor_current(zl_cursor *c, int what)
{
    MDB_val k, v;
    int rc = 0;
    CURSOR_ENTER(c);
    /* As py-lmdb: after a change in the txn, re-read whatever LMDB's cursor sits on (even
     * when the last positioning failed); EINVAL there just means "nowhere". */
    if (c->last_mutation != c->txn->mutations) {
        rc = cursor_get(c, MDB_GET_CURRENT, &k, &v);
        if (rc == EINVAL)
            rc = 0;
    }
    if (rc == 0 || rc == MDB_NOTFOUND) {
        rc = copy_out(c, what);
        if (rc == ZL_HELD)
            return rc;
    }
    CURSOR_LEAVE(c);
    return rc;
}

/* One cursor step (op) and publish the item reached (see copy_out). MDB_NOTFOUND at the end. */
int zl_cursor_step(zl_cursor *c, int op, int what)
{
    MDB_val k, v;
    int rc;
    CURSOR_ENTER(c);
    if (!c->positioned) /* iteration ends once the cursor is unpositioned */
        rc = MDB_NOTFOUND;
    else
        rc = cursor_get(c, op, &k, &v);
    if (rc == 0) {
        rc = copy_out(c, what);
        if (rc == ZL_HELD)
            return rc;
    }
    CURSOR_LEAVE(c);
    return rc;
}

/* End the hold a ZL_HELD result left on the cursor's transaction. */
void zl_cursor_unhold(zl_cursor *c) { CURSOR_LEAVE(c); }

int zl_cursor_count(zl_cursor *c, size_t *n)
{
    int rc;
    CURSOR_ENTER(c);
    rc = CE(c)->cursor_count(c->cur, n); /* LMDB decides: INCOMPATIBLE, EINVAL, ... */
    CURSOR_LEAVE(c);
    return rc;
}

int zl_cursor_put(zl_cursor *c, const char *key, size_t klen, const char *val, size_t vlen,
                  unsigned int flags)
{
    MDB_val k, v;
    int rc;
    CURSOR_ENTER(c);
    { /* LMDB checks the key size after the read-only check */
        k.mv_size = klen;
        k.mv_data = (void *)key;
        v.mv_size = vlen;
        v.mv_data = (void *)val;
        rc = CE(c)->cursor_put(c->cur, &k, &v, flags);
        if (rc == 0 || rc == MDB_KEYEXIST) /* LMDB moved its cursor onto the key */
            c->after_miss = 0;
        /* As py-lmdb: the positioned flag is left alone; the next key()/value() re-reads
         * LMDB's cursor, which sits on the written item. */
        c->txn->mutations++;
    }
    CURSOR_LEAVE(c);
    return rc;
}

/* LMDB 0.9 bug guard. When another cursor (txn.pop/delete/replace use one) removes a
 * duplicate, LMDB re-points the sub-cursors of other cursors on that key but leaves their
 * copy of the duplicate count stale; deleting through such a cursor then keeps the key with
 * an empty duplicate set (a corrupt tree: later reads return garbage or crash, as in
 * py-lmdb). So on a dupsort db changed since this cursor last moved, the current item is
 * deleted through a fresh cursor, and this one is re-seated on the item that follows it. */
static int del_resynced(zl_cursor *c, unsigned int flags, int *unpositioned)
{
    MDB_cursor *tmp;
    MDB_val k, v, k2, v2;
    char *copy;
    int rc = CE(c)->cursor_get(c->cur, &k, &v, MDB_GET_CURRENT);
    if (rc)
        return rc;
    copy = malloc(k.mv_size + v.mv_size + 1); /* the delete rewrites the page they are on */
    if (!copy)
        return ZL_NO_MEMORY;
    memcpy(copy, k.mv_data, k.mv_size);
    memcpy(copy + k.mv_size, v.mv_data, v.mv_size);
    k.mv_data = copy;
    v.mv_data = copy + k.mv_size;
    if ((rc = CE(c)->cursor_open(c->txn->txn, c->dbi, &tmp)) == 0) {
        k2 = k;
        v2 = v;
        rc = CE(c)->cursor_get(tmp, &k2, &v2, MDB_GET_BOTH);
        if (rc == 0)
            rc = CE(c)->cursor_del(tmp, flags);
        CE(c)->cursor_close(tmp);
    }
    if (rc == 0) { /* re-seat: the next duplicate of the key, else the next key */
        k2 = k;
        v2 = v;
        int r2 = (flags & MDB_NODUPDATA) ? MDB_NOTFOUND
                                          : CE(c)->cursor_get(c->cur, &k2, &v2, MDB_GET_BOTH_RANGE);
        if (r2 == MDB_NOTFOUND) {
            k2 = k;
            r2 = CE(c)->cursor_get(c->cur, &k2, &v2, MDB_SET_RANGE);
            /* The key still has smaller duplicates: LMDB's own cursor would now sit past
             * the end of them, which reads as unpositioned. */
            if (r2 == 0 && k2.mv_size == k.mv_size && !memcmp(k2.mv_data, k.mv_data, k.mv_size))
                *unpositioned = 1;
        }
        /* r2 == NOTFOUND: nothing follows; GET_CURRENT below then unpositions. */
    }
    free(copy);
    return rc;
}

int zl_cursor_del(zl_cursor *c, unsigned int flags)
{
    MDB_val k, v;
    int rc;
    CURSOR_ENTER(c);
    if (!c->positioned) {
        rc = ZL_UNPOSITIONED; /* nothing to delete: False, without asking LMDB */
    } else if (c->dupsort && c->seat_mutation != c->txn->mutations) {
        int unpositioned = 0;
        rc = del_resynced(c, flags, &unpositioned);
        c->txn->mutations++;
        if (rc == 0 && unpositioned)
            set_current(c, MDB_NOTFOUND, &k, &v);
        else if (rc == 0)
            cursor_get(c, MDB_GET_CURRENT, &k, &v);
    } else {
        rc = CE(c)->cursor_del(c->cur, flags);
        c->txn->mutations++;
        if (rc == 0)
            cursor_get(c, MDB_GET_CURRENT, &k, &v);
    }
    CURSOR_LEAVE(c);
    return rc;
}

/* Cursor replace/pop follow py-lmdb step by step: the cursor's positioned flag is what the
 * SET_KEY lookup left (a missing key unpositions it); writes only bump the mutation count,
 * so the next key()/value() re-reads LMDB's cursor. */
int zl_cursor_replace(zl_cursor *c, const char *key, size_t klen, const char *val,
                      size_t vlen)
{
    int rc;
    CURSOR_ENTER(c);
    rc = replace_on(c->txn, c->cur, c, key, klen, val, vlen);
    CURSOR_LEAVE(c);
    return rc;
}

int zl_cursor_pop(zl_cursor *c, const char *key, size_t klen)
{
    MDB_val k, v;
    int rc;
    CURSOR_ENTER(c);
    k.mv_size = klen;
    k.mv_data = (void *)key;
    c->txn->stage = 0;
    rc = cursor_get(c, MDB_SET_KEY, &k, &v);
    if (rc == 0 && !(rc = save_old(c->txn, &v))) {
        c->txn->stage = 1;
        rc = CE(c)->cursor_del(c->cur, 0);
        c->txn->mutations++;
    }
    CURSOR_LEAVE(c);
    return rc;
}

/* Append "<len><code>" to the block's struct format. The decimal conversion is by hand:
 * with sprintf it was the most expensive part of filling a block. */
static int fmt_add(zl_cursor *c, size_t len, char code)
{
    char digits[24];
    int n = 0;
    char *out;
    if (grow((void **)&c->fmt, &c->fmt_cap, c->fmtlen + 24, 1))
        return ZL_NO_MEMORY;
    do {
        digits[n++] = (char)('0' + len % 10);
        len /= 10;
    } while (len);
    out = c->fmt + c->fmtlen;
    c->fmtlen += (size_t)n + 1;
    while (n)
        *out++ = digits[--n];
    *out = code;
    return 0;
}

/* Append one item to the cursor's block buffer (and, with ZL_FILL_FORMAT, describe it in
 * the block's struct format, so that Python cuts the whole block into bytes objects with
 * one struct.unpack call instead of slicing item by item). */
static int block_add(zl_cursor *c, size_t *used, MDB_val *k, MDB_val *v, int what)
{
    size_t need = *used + (what & ZL_FILL_KEYS ? k->mv_size : 0) +
                  (what & ZL_FILL_VALUES ? v->mv_size : 0);
    size_t n = c->nout;
    if (grow((void **)&c->buf, &c->buf_cap, need + 1, 1) ||
        grow((void **)&c->offs, &c->offs_cap, 2 * n + 3, sizeof(size_t)))
        return ZL_NO_MEMORY;
    if (n == 0)
        c->offs[0] = 0;
    if (what & ZL_FILL_KEYS) {
        memcpy(c->buf + *used, k->mv_data, k->mv_size);
        *used += k->mv_size;
    }
    c->offs[2 * n + 1] = *used;
    if (what & ZL_FILL_VALUES) {
        memcpy(c->buf + *used, v->mv_data, v->mv_size);
        *used += v->mv_size;
    }
    c->offs[2 * n + 2] = *used;
    c->nout = n + 1;
    if (what & ZL_FILL_FORMAT) {
        if (n == 0) {
            if (grow((void **)&c->fmt, &c->fmt_cap, 2, 1))
                return ZL_NO_MEMORY;
            c->fmt[0] = '<';
            c->fmtlen = 1;
        }
        if ((what & ZL_FILL_KEYS) &&
            fmt_add(c, k->mv_size, (what & ZL_FORMAT_SKIP_KEYS) ? 'x' : 's'))
            return ZL_NO_MEMORY;
        if ((what & ZL_FILL_VALUES) &&
            fmt_add(c, v->mv_size, (what & ZL_FORMAT_SKIP_VALUES) ? 'x' : 's'))
            return ZL_NO_MEMORY;
    }
    return 0;
}

/* Step the cursor (first_op, then next_op ...) and pack up to max_items items, or until
 * max_bytes are used, into c->buf: item i's key is buf[offs[2i]:offs[2i+1]] and its value
 * buf[offs[2i+1]:offs[2i+2]] (empty when not requested). Returns the item count, 0 at the
 * end (the cursor is then unpositioned), or a negative/errno error code as its negation. */
int zl_cursor_fill(zl_cursor *c, int first_op, int next_op, int what, size_t max_items,
                   size_t max_bytes)
{
    MDB_val k, v;
    size_t used = 0;
    int rc, op = first_op;
    CURSOR_ENTER(c);
    c->nout = 0;
    for (;;) {
        if (op == MDB_GET_CURRENT && !c->positioned) {
            rc = MDB_NOTFOUND;
            break;
        }
        rc = cursor_get(c, op, &k, &v);
        if (rc)
            break;
        if ((rc = block_add(c, &used, &k, &v, what)))
            break;
        if (c->nout >= max_items || used >= max_bytes)
            break;
        op = next_op;
    }
    CURSOR_LEAVE(c);
    if (rc == MDB_NOTFOUND || rc == 0)
        return (int)c->nout;
    return rc > 0 ? -rc : rc;
}

/* ---- getmulti / putmulti ---------------------------------------------------------------
 *
 * Both take their items either as cffi arrays (a joined buffer plus boundaries) or as the
 * bytes of marshal.dumps(obj, 2) of a list of bytes objects (getmulti) or of (key, value)
 * 2-tuples of bytes objects (putmulti): CPython's marshal writes that in one C pass over the
 * objects, where joining them and listing their lengths took three. Version 2 of the format
 * is fixed (the codes below are the ones the interpreter's own .pyc files use); the parser
 * accepts exactly that shape and returns ZL_NOT_PLAIN for anything else (another type, a
 * tuple of another size, trailing bytes), on which the caller goes the general way.
 *
 * Large calls work in key order. Random lookups and puts descend the B-tree from the root
 * and touch a new leaf page each; in key order LMDB's cursor finds most keys on the page it
 * already sits on (mdb_cursor_set and mdb_cursor_put check the current leaf first) and the
 * touched pages stay in cache: several times fewer instructions and cache misses per item.
 * The order is the database's own key order (see sort_keys), the sort is stable, and the
 * observable results are those of input-order processing:
 *  - getmulti only reads; its results are emitted in input order afterwards. The last input
 *    key is looked up last, so the cursor ends where input-order processing leaves it. Any
 *    error (or a keyfixed size mismatch) reruns the call in input order, which then stops
 *    at the same key with the same error as always.
 *  - putmulti: for each key the puts of its items keep their input order (stable sort), so
 *    last-wins (overwrite), first-wins (overwrite=False / dupdata=False) and the added and
 *    consumed counts are unchanged; the last item is put last (the cursor ends on it).
 *    The size checks LMDB makes before touching anything are made first, in input order:
 *    with item j bad, items [0, j) go in (sorted among themselves), then item j is put to
 *    get LMDB's error for it. An error that depends on the database state (MDB_MAP_FULL,
 *    MDB_TXN_FULL, ...) can then come at a later item than in input order; LMDB marks the
 *    transaction failed on those, so which items went in before it does not matter (the
 *    transaction can only be aborted). append=True keeps input order: order is its meaning. */

#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define ZL_PREFETCH(p) __builtin_prefetch(p)
#else
#define ZL_PREFETCH(p) ((void)0)
#endif

#define ZL_NOT_PLAIN -30620 /* marshal input of another shape: take the general path */

#define ZL_MULTI_DUPDATA 1
#define ZL_MULTI_VALUES 2
#define ZL_MULTI_KEYFIXED 4
#define ZL_MULTI_MARSHAL_IN 8   /* items as marshal version 2 bytes (else joined + offsets) */
#define ZL_MULTI_MARSHAL_OUT 16 /* getmulti: results as marshal bytes (else a block) */
#define ZL_MULTI_FORMAT 32      /* getmulti block: also its struct format */
#define ZL_MULTI_NOSORT 64      /* input order whatever the size (tests, benchmarks) */
#define ZL_MULTI_RECORDS 128    /* getmulti: one-size (key, value) results as struct records */

/* CURSOR_ENTER that runs `undo` before returning ZL_CLOSED. */
#define CURSOR_ENTER_OR(c, undo)                                                         \
    do {                                                                                 \
        zl_atomic_add(&(c)->txn->busy, 1);                                               \
        if (zl_atomic_load(&(c)->txn->state) != ZL_LIVE || zl_atomic_load(&(c)->state) != ZL_LIVE) { \
            zl_atomic_add(&(c)->txn->busy, -1);                                          \
            undo;                                                                        \
            return ZL_CLOSED;                                                            \
        }                                                                                \
    } while (0)

/* Calls with fewer items work in input order: a few random keys rarely share a leaf page,
 * and below about this many the sort cost more than it saved, even on a 200k-record db
 * (timed per key, sorted against ZL_MULTI_NOSORT). */
#define ZL_SORT_MIN 32

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static char *wr32(char *p, size_t v)
{
    p[0] = (char)(v & 255);
    p[1] = (char)((v >> 8) & 255);
    p[2] = (char)((v >> 16) & 255);
    p[3] = (char)((v >> 24) & 255);
    return p + 4;
}

/* Parse marshal version 2 bytes of a list of `per` == 1: bytes objects, 2: 2-tuples of bytes
 * objects, into a new array of per * n spans (free it); *n items. ZL_NOT_PLAIN when the bytes
 * are anything else. The spans point into `data`. */
static int parse_marshal(const char *data, size_t len, int per, MDB_val **out, size_t *n)
{
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    uint32_t cnt, i;
    int j;
    MDB_val *spans;
    if (len < 5 || p[0] != '[')
        return ZL_NOT_PLAIN;
    cnt = rd32(p + 1);
    p += 5;
    if (cnt > 0x7fffffffu || (size_t)(end - p) / (per == 2 ? 15 : 5) < cnt)
        return ZL_NOT_PLAIN; /* each item takes at least 5 (15) bytes */
    spans = malloc(((size_t)cnt * per + 1) * sizeof(MDB_val));
    if (!spans)
        return ZL_NO_MEMORY;
    for (i = 0; i < cnt; i++) {
        if (per == 2) {
            if (end - p < 5 || p[0] != '(' || rd32(p + 1) != 2)
                goto bad;
            p += 5;
        }
        for (j = 0; j < per; j++) {
            uint32_t l;
            if (end - p < 5 || p[0] != 's')
                goto bad;
            l = rd32(p + 1);
            p += 5;
            if (l > 0x7fffffffu || (size_t)(end - p) < l)
                goto bad;
            spans[(size_t)i * per + j].mv_size = l;
            spans[(size_t)i * per + j].mv_data = (void *)p;
            p += l;
        }
    }
    if (p != end)
        goto bad;
    *out = spans;
    *n = cnt;
    return 0;
bad:
    free(spans);
    return ZL_NOT_PLAIN;
}

/* Spans of n keys (getmulti: per 1) or n (key, value) items (putmulti: per 2), from marshal
 * bytes or from a joined buffer and its per + 1 boundaries per item. */
static int multi_spans(const char *data, size_t len, const size_t *offs, size_t n, int per,
                       int marshal, MDB_val **out, size_t *nout)
{
    MDB_val *spans;
    size_t i, m = n * per;
    if (marshal)
        return parse_marshal(data, len, per, out, nout);
    spans = malloc((m + 1) * sizeof(MDB_val));
    if (!spans)
        return ZL_NO_MEMORY;
    for (i = 0; i < m; i++) {
        spans[i].mv_size = offs[i + 1] - offs[i];
        spans[i].mv_data = (void *)(data + offs[i]);
    }
    *out = spans;
    *nout = n;
    return 0;
}

/* -- sorting by the database's key order -- */

typedef struct {
    uint64_t pfx; /* 8 bytes of the key in comparator order: a prefilter for the comparison */
    size_t idx;
} zl_srec;

typedef struct {
    zl_cursor *c;
    const MDB_val *keys; /* key i is keys[i * stride] */
    size_t stride;
    int by_pfx;          /* pfx is the whole order (INTEGERKEY): no comparator calls */
} zl_sortctx;

/* Records in key order: by pfx, then (equal pfx) by the database's comparator. */
static int rec_cmp(const zl_sortctx *s, const zl_srec *a, const zl_srec *b)
{
    if (a->pfx != b->pfx)
        return a->pfx < b->pfx ? -1 : 1;
    if (s->by_pfx)
        return 0;
    return CE(s->c)->cmp(s->c->txn->txn, s->c->dbi, &s->keys[a->idx * s->stride],
                         &s->keys[b->idx * s->stride]);
}

/* Stable merge sort of a[0..n) by rec_cmp; tmp: room for n/2 + 1. */
static void merge_sort(const zl_sortctx *s, zl_srec *a, zl_srec *tmp, size_t n)
{
    size_t h, i, j, k;
    if (n <= 12) {
        for (i = 1; i < n; i++) {
            zl_srec x = a[i];
            for (j = i; j > 0 && rec_cmp(s, &x, &a[j - 1]) < 0; j--)
                a[j] = a[j - 1];
            a[j] = x;
        }
        return;
    }
    h = n / 2;
    merge_sort(s, a, tmp, h);
    merge_sort(s, a + h, tmp, n - h);
    if (rec_cmp(s, &a[h - 1], &a[h]) <= 0)
        return;
    memcpy(tmp, a, h * sizeof(*a));
    i = 0;
    j = h;
    k = 0;
    while (i < h && j < n) /* equal keys: the left one first (stable) */
        a[k++] = rec_cmp(s, &a[j], &tmp[i]) < 0 ? a[j++] : tmp[i++];
    while (i < h)
        a[k++] = tmp[i++];
}

/* Sort a[0..n) stably by rec_cmp (tmp: room for n). An LSD radix sort, one byte of pfx per
 * pass, orders by the high bytes of pfx: bytes that are the same in all records are
 * skipped, and the low bytes are left out once the bytes sorted on have enough distinct
 * values to leave few records alike (most runs of equal high bytes then have one record).
 * Such runs are then merge-sorted by rec_cmp. */
static void sort_recs(const zl_sortctx *s, zl_srec *a, zl_srec *tmp, size_t n)
{
    size_t cnt[8][256];
    zl_srec *src = a, *dst = tmp, *sw;
    size_t i, j, room = 1, lim = 4 * n;
    int b, d, low = 8, used[8] = {0};
    if (n < 256) { /* the radix passes' fixed cost (16 KiB of counters) would dominate */
        merge_sort(s, a, tmp, n);
        return;
    }
    memset(cnt, 0, sizeof(cnt));
    for (i = 0; i < n; i++) {
        uint64_t p = a[i].pfx;
        cnt[0][p & 255]++;
        cnt[1][(p >> 8) & 255]++;
        cnt[2][(p >> 16) & 255]++;
        cnt[3][(p >> 24) & 255]++;
        cnt[4][(p >> 32) & 255]++;
        cnt[5][(p >> 40) & 255]++;
        cnt[6][(p >> 48) & 255]++;
        cnt[7][p >> 56]++;
    }
    for (b = 7; b >= 0 && room < lim; b--) { /* the high bytes that tell records apart */
        size_t distinct = 0;
        for (d = 0; d < 256; d++)
            distinct += cnt[b][d] != 0;
        if (distinct > 1) {
            used[b] = 1;
            room *= distinct;
        }
        low = b;
    }
    for (b = low; b < 8; b++) {
        size_t sum = 0, t;
        if (!used[b])
            continue;
        for (d = 0; d < 256; d++) {
            t = cnt[b][d];
            cnt[b][d] = sum;
            sum += t;
        }
        for (i = 0; i < n; i++)
            dst[cnt[b][(src[i].pfx >> (8 * b)) & 255]++] = src[i];
        sw = src;
        src = dst;
        dst = sw;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(*a));
    for (i = 0; i < n; i = j) { /* runs alike in the bytes sorted on */
        uint64_t hi = low < 8 ? a[i].pfx >> (8 * low) : 0;
        for (j = i + 1; j < n && (low < 8 ? a[j].pfx >> (8 * low) : 0) == hi; j++)
            ;
        if (j - i > 1)
            merge_sort(s, a + i, tmp, j - i);
    }
}

enum { ZL_ORDER_MEMN, ZL_ORDER_MEMNR, ZL_ORDER_INT };

/* Write to order[0..n) the indexes of keys[0..n) (key i = keys[i * stride]) sorted stably
 * by the database's key order: LMDB's comparator for the db's flags (zlmdb never installs
 * another). Keys are first radix-sorted on 8 bytes past the prefix all keys share (read
 * from the end for MDB_REVERSEKEY, zero-padded: a key that ends there sorts first, as with
 * LMDB's comparison), then runs of equal bytes are merge-sorted with mdb_cmp. INTEGERKEY
 * keys sort by their native unsigned value; their comparator reads sizeof(key) bytes of both
 * keys, so they are sorted only when all are 4 or all are 8 bytes long. Returns 0, 1 when
 * the keys stay in input order, or ZL_NO_MEMORY. */
static int sort_keys(zl_cursor *c, const MDB_val *keys, size_t stride, size_t n, size_t *order)
{
    unsigned int f = 0;
    int how;
    size_t i, j, lcp = 0, ksz = keys[0].mv_size;
    zl_srec *recs;
    zl_sortctx s;
    if (CE(c)->dbi_flags(c->txn->txn, c->dbi, &f))
        return 1;
    how = (f & MDB_REVERSEKEY) ? ZL_ORDER_MEMNR : (f & MDB_INTEGERKEY) ? ZL_ORDER_INT : ZL_ORDER_MEMN;
    if (how == ZL_ORDER_INT) {
        if (ksz != 4 && ksz != 8)
            return 1;
        for (i = 1; i < n; i++)
            if (keys[i * stride].mv_size != ksz)
                return 1;
    } else {
        const unsigned char *k0 = keys[0].mv_data;
        lcp = ksz;
        for (i = 1; i < n && lcp; i++) {
            const MDB_val *k = &keys[i * stride];
            const unsigned char *p = k->mv_data;
            size_t m = k->mv_size < lcp ? k->mv_size : lcp;
            if (how == ZL_ORDER_MEMN) {
                if (m == lcp && !memcmp(p, k0, m))
                    continue;
                for (j = 0; j < m && p[j] == k0[j]; j++)
                    ;
            } else {
                for (j = 0; j < m && p[k->mv_size - 1 - j] == k0[ksz - 1 - j]; j++)
                    ;
            }
            lcp = j;
        }
    }
    recs = malloc((n + n / 2 + 1) * sizeof(*recs) + n * sizeof(*recs));
    if (!recs)
        return ZL_NO_MEMORY;
    for (i = 0; i < n; i++) {
        const MDB_val *k = &keys[i * stride];
        const unsigned char *p = k->mv_data;
        uint64_t v = 0;
        if (how == ZL_ORDER_INT) {
            if (ksz == 4) {
                uint32_t u;
                memcpy(&u, p, 4);
                v = u;
            } else {
                memcpy(&v, p, 8);
            }
        } else if (how == ZL_ORDER_MEMN) {
            size_t sz = k->mv_size;
            if (sz >= lcp + 8) { /* (compilers make this one byte-swapping load) */
                const unsigned char *q = p + lcp;
                v = (uint64_t)q[0] << 56 | (uint64_t)q[1] << 48 | (uint64_t)q[2] << 40 |
                    (uint64_t)q[3] << 32 | (uint64_t)q[4] << 24 | (uint64_t)q[5] << 16 |
                    (uint64_t)q[6] << 8 | (uint64_t)q[7];
            } else {
                for (j = lcp; j < lcp + 8; j++)
                    v = v << 8 | (j < sz ? p[j] : 0);
            }
        } else {
            size_t sz = k->mv_size;
            for (j = lcp; j < lcp + 8; j++)
                v = v << 8 | (j < sz ? p[sz - 1 - j] : 0);
        }
        recs[i].pfx = v;
        recs[i].idx = i;
    }
    s.c = c;
    s.keys = keys;
    s.stride = stride;
    s.by_pfx = how == ZL_ORDER_INT;
    sort_recs(&s, recs, recs + n, n);
    for (i = 0; i < n; i++)
        order[i] = recs[i].idx;
    free(recs);
    return 0;
}

/* The order sort_keys gives keys[koffs[i]:koffs[i+1]] for this cursor's database, in
 * order[0..n) (input order when it does not sort them: returns 1). For the tests. */
int zl_multi_order(zl_cursor *c, const char *keys, const size_t *koffs, size_t n, size_t *order)
{
    MDB_val *spans;
    size_t i, m;
    int rc = multi_spans(keys, 0, koffs, n, 1, 0, &spans, &m);
    if (rc)
        return rc;
    CURSOR_ENTER_OR(c, free(spans));
    rc = n ? sort_keys(c, spans, 1, n, order) : 0;
    if (rc == 1)
        for (i = 0; i < n; i++)
            order[i] = i;
    CURSOR_LEAVE(c);
    free(spans);
    return rc;
}

/* -- getmulti -- */

typedef struct {
    MDB_val k, v;
} zl_kv;

typedef struct {
    size_t first, count; /* this key's entries */
    size_t bytes;        /* their keys' and values' bytes */
} zl_range;

typedef struct {
    zl_kv *ents;
    size_t nents, cap;
    int big;        /* an entry too large for the marshal format's 32-bit sizes */
    int mixed;      /* not all keys of size ksz and all values of size vsz */
    size_t ksz, vsz;
} zl_found;

static int found_add(zl_found *f, zl_range *r, const MDB_val *k, const MDB_val *v)
{
    if (f->nents == f->cap && grow((void **)&f->ents, &f->cap, f->nents + 1, sizeof(zl_kv)))
        return ZL_NO_MEMORY;
    if (f->nents == 0) {
        f->ksz = k->mv_size;
        f->vsz = v->mv_size;
    } else if (k->mv_size != f->ksz || v->mv_size != f->vsz) {
        f->mixed = 1;
    }
    f->ents[f->nents].k = *k;
    f->ents[f->nents].v = *v;
    f->nents++;
    r->count++;
    r->bytes += k->mv_size + v->mv_size;
    if (k->mv_size > 0x7fffffff || v->mv_size > 0x7fffffff)
        f->big = 1;
    return 0;
}

/* Note what the cursor, positioned on key k (value v, its first duplicate), finds for a
 * key in *r, as getmulti always did: the item, every duplicate with dupdata, dupfixed units
 * (entries appended to f, pointing into the map). keysize: with keyfixed in input order, the
 * size of the first key found (0: none yet), checked here as the items are found. */
static int gm_collect(zl_cursor *c, MDB_val *k, MDB_val *v, int mode, size_t dupfixed,
                      zl_found *f, zl_range *r, size_t *keysize)
{
    int rc;
    if (dupfixed) {
        MDB_val kk = *k;
        rc = cursor_get(c, MDB_GET_MULTIPLE, k, v);
        while (rc == 0) {
            size_t off;
            for (off = 0; off + dupfixed <= v->mv_size; off += dupfixed) {
                MDB_val one;
                one.mv_size = dupfixed;
                one.mv_data = (char *)v->mv_data + off;
                if (keysize) {
                    if (*keysize == 0)
                        *keysize = kk.mv_size;
                    if (kk.mv_size != *keysize)
                        return ZL_KEYFIXED_SIZE; /* packed records need one key size */
                }
                if ((rc = found_add(f, r, &kk, &one)))
                    return rc;
            }
            rc = cursor_get(c, MDB_NEXT_MULTIPLE, k, v);
        }
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    for (;;) {
        if ((rc = found_add(f, r, k, v)))
            return rc;
        if (!(mode & ZL_MULTI_DUPDATA))
            return 0;
        rc = cursor_get(c, MDB_NEXT_DUP, k, v);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return rc;
    }
}

/* Look up one key (MDB_SET_KEY) and note what it finds in *r; *at: the key found (mv_data
 * NULL when absent). */
static int gm_lookup(zl_cursor *c, const MDB_val *key, int mode, size_t dupfixed, zl_found *f,
                     zl_range *r, size_t *keysize, MDB_val *at)
{
    MDB_val k = *key, v;
    int rc = cursor_get(c, MDB_SET_KEY, &k, &v); /* LMDB: BAD_TXN, then empty key */
    r->first = f->nents;
    r->count = r->bytes = 0;
    at->mv_data = NULL;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    *at = k;
    return gm_collect(c, &k, &v, mode, dupfixed, f, r, keysize);
}

/* Keys in key order, on a dense stretch of the database, are often the next key or the one
 * after: stepping there with MDB_NEXT_NODUP and one comparison costs a fraction of a lookup
 * (which compares with the page's first and last keys, then binary-searches the page). The
 * walk steps at most `budget` times before it looks the key up; the budget grows when steps
 * find their key and halves when they do not, down to none for a while (sparse keys). */
#define ZL_STEP_MAX 4
#define ZL_STEP_COOL 32

typedef struct {
    int on;       /* the cursor is on key `cur` (its first duplicate unless `exact`), and no
                   * key lies between the last target and it */
    int exact;    /* `cur` is the last target, found (its result: R[prev]) */
    int end;      /* a step ran past the last key: every later target is absent */
    int budget;   /* steps to try before a lookup */
    int cool;     /* with no budget: lookups before stepping is tried again */
    size_t prev;
    MDB_val cur;
} zl_walk;

/* Find keys[x] (keys come in key order) and note its result in R[x]. */
static int gm_find(zl_cursor *c, zl_walk *w, const MDB_val *key, size_t x, int mode,
                   size_t dupfixed, zl_found *f, zl_range *R)
{
    MDB_val k, v;
    zl_range *r = &R[x];
    int rc, d, s;
    r->first = f->nents;
    r->count = r->bytes = 0;
    if (w->end)
        return 0;
    if (w->on) {
        d = CE(c)->cmp(c->txn->txn, c->dbi, key, &w->cur);
        if (d < 0)
            return 0; /* between the last target and the cursor's key: absent */
        if (d == 0 && w->exact) {
            *r = R[w->prev]; /* the same key again */
            return 0;
        }
        if (d == 0) { /* a step stopped on it */
            k = w->cur;
            rc = cursor_get(c, MDB_GET_CURRENT, &k, &v);
            w->exact = 1;
            w->prev = x;
            return rc ? rc : gm_collect(c, &k, &v, mode, dupfixed, f, r, NULL);
        }
        if (w->budget) {
            for (s = 0; s < w->budget; s++) {
                rc = cursor_get(c, MDB_NEXT_NODUP, &k, &v);
                if (rc == MDB_NOTFOUND) {
                    w->end = 1;
                    return 0;
                }
                if (rc)
                    return rc;
                w->cur = k;
                d = CE(c)->cmp(c->txn->txn, c->dbi, key, &k);
                if (d <= 0) {
                    if (w->budget < ZL_STEP_MAX)
                        w->budget++;
                    w->exact = d == 0;
                    w->prev = x;
                    return d ? 0 : gm_collect(c, &k, &v, mode, dupfixed, f, r, NULL);
                }
            }
            w->budget /= 2;
            w->cool = ZL_STEP_COOL;
        } else if (--w->cool <= 0) {
            w->budget = 1;
        }
    }
    rc = gm_lookup(c, key, mode, dupfixed, f, r, NULL, &w->cur);
    w->on = w->exact = w->cur.mv_data != NULL;
    w->prev = x;
    return rc;
}

/* Copy the entries, keys in input order, into c->buf: with ZL_MULTI_RECORDS records of one
 * key size and one value size with their struct format in c->fmt (c->mkind 2); else with
 * ZL_MULTI_MARSHAL_OUT a marshal version 2 list of (key, value) tuples or of keys
 * (c->mkind 1); c->mlen bytes; else a block as
 * zl_cursor_fill makes (c->offs; c->fmt with ZL_MULTI_FORMAT). c->nout: the entry count.
 * check_keyfixed: fail on keys of another size than the first (ZL_KEYFIXED_SIZE). */
static int gm_emit(zl_cursor *c, const zl_found *f, const zl_range *R, size_t n, int mode,
                   int check_keyfixed)
{
    size_t i, j, total = 0, count = 0, used = 0, keysize = 0;
    int values = (mode & ZL_MULTI_VALUES) != 0, rc;
    int what = ZL_FILL_KEYS | (values ? ZL_FILL_VALUES : 0) |
               ((mode & ZL_MULTI_FORMAT) ? ZL_FILL_FORMAT : 0);
    const zl_kv *E = f->ents;
    c->nout = 0;
    c->mlen = 0;
    c->mkind = 0;
    for (i = 0; i < n; i++) {
        total += R[i].bytes;
        count += R[i].count;
    }
    if (check_keyfixed) {
        for (i = 0; i < n; i++)
            for (j = 0; j < R[i].count; j++) {
                size_t ks = E[R[i].first + j].k.mv_size;
                if (keysize == 0)
                    keysize = ks;
                if (ks != keysize)
                    return ZL_KEYFIXED_SIZE;
            }
    }
    if ((mode & ZL_MULTI_RECORDS) && values && !f->mixed && count) {
        /* One key size and one value size: records back to back and their struct format,
         * which struct.iter_unpack cuts into (key, value) tuples without parsing. */
        char *p;
        c->fmtlen = 0;
        if (grow((void **)&c->buf, &c->buf_cap, total + 1, 1) ||
            grow((void **)&c->fmt, &c->fmt_cap, 2, 1))
            return ZL_NO_MEMORY;
        c->fmt[0] = '<';
        c->fmtlen = 1;
        if (fmt_add(c, f->ksz, 's') || fmt_add(c, f->vsz, 's'))
            return ZL_NO_MEMORY;
        p = c->buf;
        for (i = 0; i < n; i++) {
            if (i + 8 < n && R[i + 8].count) {
                const zl_kv *e = &E[R[i + 8].first];
                ZL_PREFETCH(e->k.mv_data);
                ZL_PREFETCH(e->v.mv_data);
            }
            if (i + 16 < n)
                ZL_PREFETCH(&E[R[i + 16].first]);
            for (j = 0; j < R[i].count; j++) {
                const zl_kv *e = &E[R[i].first + j];
                memcpy(p, e->k.mv_data, e->k.mv_size);
                p += e->k.mv_size;
                memcpy(p, e->v.mv_data, e->v.mv_size);
                p += e->v.mv_size;
            }
        }
        c->mlen = (size_t)(p - c->buf);
        c->mkind = 2;
        c->nout = count;
        return 0;
    }
    if ((mode & ZL_MULTI_MARSHAL_OUT) && !f->big && count <= 0x7fffffff) {
        char *p;
        size_t need = 5 + total + count * (values ? 15 : 5);
        if (grow((void **)&c->buf, &c->buf_cap, need, 1))
            return ZL_NO_MEMORY;
        p = c->buf;
        *p++ = '[';
        p = wr32(p, count);
        for (i = 0; i < n; i++) {
            if (i + 8 < n && R[i + 8].count) { /* the map pages: fetched while we copy */
                const zl_kv *e = &E[R[i + 8].first];
                ZL_PREFETCH(e->k.mv_data);
                if (values)
                    ZL_PREFETCH(e->v.mv_data);
            }
            if (i + 16 < n)
                ZL_PREFETCH(&E[R[i + 16].first]);
            for (j = 0; j < R[i].count; j++) {
                const zl_kv *e = &E[R[i].first + j];
                if (values) {
                    memcpy(p, "(\x02\x00\x00\x00s", 6);
                    p = wr32(p + 6, e->k.mv_size);
                } else {
                    *p++ = 's';
                    p = wr32(p, e->k.mv_size);
                }
                memcpy(p, e->k.mv_data, e->k.mv_size);
                p += e->k.mv_size;
                if (values) {
                    *p++ = 's';
                    p = wr32(p, e->v.mv_size);
                    memcpy(p, e->v.mv_data, e->v.mv_size);
                    p += e->v.mv_size;
                }
            }
        }
        c->mlen = (size_t)(p - c->buf);
        c->mkind = 1;
        c->nout = count;
        return 0;
    }
    if (grow((void **)&c->buf, &c->buf_cap, total + 1, 1) ||
        grow((void **)&c->offs, &c->offs_cap, 2 * count + 3, sizeof(size_t)))
        return ZL_NO_MEMORY;
    for (i = 0; i < n; i++)
        for (j = 0; j < R[i].count; j++) {
            zl_kv e = E[R[i].first + j];
            if ((rc = block_add(c, &used, &e.k, &e.v, what)))
                return rc;
        }
    c->mlen = used;
    return 0;
}

/* Look up each key (see the top of this section for the two ways keys come in) and pack
 * the found items into c->buf as gm_emit says. mode: ZL_MULTI_* flags; dupfixed_bytes:
 * read duplicates in pages with MDB_GET_MULTIPLE and split them in units of that size;
 * keyfixed: key+value records back to back (all keys the size of the first found key).
 * Returns the item count, or a negative error code. */
int zl_getmulti(zl_cursor *c, const char *keys, size_t keyslen, const size_t *koffs,
                size_t nkeys, int mode, size_t dupfixed_bytes)
{
    MDB_val *spans = NULL;
    zl_range *R = NULL;
    size_t *order = NULL;
    zl_found f = {NULL, 0, 0, 0, 0, 0, 0};
    zl_walk w;
    MDB_val at;
    size_t i, n = 0, keysize = 0;
    int rc, sorted = 0;
    /* The shape of the input first: ZL_NOT_PLAIN sends the caller the general way, whose
     * type errors come before the closed check. */
    rc = multi_spans(keys, keyslen, koffs, nkeys, 1, (mode & ZL_MULTI_MARSHAL_IN) != 0, &spans,
                     &n);
    if (rc)
        return rc;
    CURSOR_ENTER_OR(c, free(spans));
    c->nout = 0;
    c->mlen = 0;
    c->mkind = 0;
    R = malloc((n + 1) * sizeof(*R));
    if (!R) {
        rc = ZL_NO_MEMORY;
        goto out;
    }
    if (!(mode & ZL_MULTI_NOSORT) && n >= ZL_SORT_MIN) {
        order = malloc(n * sizeof(*order));
        if (!order) {
            rc = ZL_NO_MEMORY;
            goto out;
        }
        rc = sort_keys(c, spans, 1, n - 1, order); /* the last key is looked up last */
        if (rc < 0)
            goto out;
        sorted = rc == 0;
        rc = 0;
    }
    if (sorted) {
        memset(&w, 0, sizeof(w));
        w.budget = ZL_STEP_MAX;
        for (i = 0; i < n - 1 && rc == 0; i++)
            rc = gm_find(c, &w, &spans[order[i]], order[i], mode, dupfixed_bytes, &f, R);
        if (rc == 0) /* the last key as always: the cursor ends where it leaves it */
            rc = gm_lookup(c, &spans[n - 1], mode, dupfixed_bytes, &f, &R[n - 1], NULL, &at);
        if (rc == 0)
            rc = gm_emit(c, &f, R, n, mode, (mode & ZL_MULTI_KEYFIXED) != 0);
        if (rc) { /* whatever failed: again in input order, which fails where it always did */
            f.nents = 0;
            f.big = f.mixed = 0;
            rc = 0;
            sorted = 0;
        }
    }
    if (!sorted) {
        for (i = 0; i < n && rc == 0; i++)
            rc = gm_lookup(c, &spans[i], mode, dupfixed_bytes, &f, &R[i],
                           (mode & ZL_MULTI_KEYFIXED) ? &keysize : NULL, &at);
        if (rc == 0)
            rc = gm_emit(c, &f, R, n, mode, 0);
    }
out:
    if (rc)
        c->nout = 0;
    n = c->nout;
    CURSOR_LEAVE(c);
    free(spans);
    free(R);
    free(order);
    free(f.ents);
    if (rc)
        return rc > 0 ? -rc : rc;
    return (int)n;
}

/* -- putmulti -- */

/* Put item i (spans[2i] -> spans[2i+1]) as putmulti always did: KEYEXIST counts as
 * consumed but not added; any other error is returned with c->mfailed = i. */
static int pm_put(zl_cursor *c, const MDB_val *spans, size_t i, unsigned int flags,
                  int append)
{
    MDB_val k = spans[2 * i], v = spans[2 * i + 1];
    int rc = MDB_KEYEXIST;
    if (append) /* a key past the last one (else KEYEXIST, nothing changed): add it there */
        rc = CE(c)->cursor_put(c->cur, &k, &v, flags | MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        k = spans[2 * i];
        v = spans[2 * i + 1];
        rc = CE(c)->cursor_put(c->cur, &k, &v, flags);
    }
    if (rc == 0 || rc == MDB_KEYEXIST)
        c->after_miss = 0;
    c->txn->mutations++;
    if (rc == 0) {
        c->madded++;
    } else if (rc != MDB_KEYEXIST) {
        c->mfailed = i;
        return rc;
    }
    c->mconsumed++;
    return 0;
}

/* Put items [s, e): items [s, e - 1) in key order, then item e - 1. An error on the first
 * put (nothing of the range written yet) puts the range again in input order, so that the
 * items before the failing one go in and it fails as in input order. */
static int pm_put_sorted(zl_cursor *c, const MDB_val *spans, size_t s, size_t e,
                         unsigned int flags)
{
    size_t m = e - s, p, *order = malloc(m * sizeof(size_t));
    int rc;
    if (!order)
        return ZL_NO_MEMORY;
    size_t from;
    rc = sort_keys(c, spans + 2 * s, 2, m - 1, order);
    from = m - 1;
    if (rc == 1) {
        for (p = 0; p < m - 1; p++)
            order[p] = p;
        rc = 0;
    } else if (rc == 0) {
        /* Sorted keys past the database's last key are appended (MDB_APPEND): LMDB skips
         * the search and splits a full page at its end, not in its middle, so bulk loads
         * fill their pages. `from`: the first such position (binary search). */
        MDB_cursor *tmp;
        MDB_val lk, lv;
        if (CE(c)->cursor_open(c->txn->txn, c->dbi, &tmp) == 0) {
            int r = CE(c)->cursor_get(tmp, &lk, &lv, MDB_LAST);
            if (r == MDB_NOTFOUND) {
                from = 0;
            } else if (r == 0) {
                size_t lo = 0, hi = m - 1;
                while (lo < hi) {
                    size_t mid = lo + (hi - lo) / 2;
                    if (CE(c)->cmp(c->txn->txn, c->dbi, &spans[2 * (s + order[mid])], &lk) > 0)
                        hi = mid;
                    else
                        lo = mid + 1;
                }
                from = lo;
            }
            CE(c)->cursor_close(tmp);
        }
    }
    if (rc)
        goto out;
    order[m - 1] = m - 1;
    for (p = 0; p < m && rc == 0; p++) {
        /* (an equal key next is no append: pm_put then puts it the usual way) */
        rc = pm_put(c, spans, s + order[p], flags, p >= from && p < m - 1);
        if (rc && p == 0) { /* nothing of the range written yet: input order decides */
            size_t i;
            rc = 0;
            for (i = s; i < e && rc == 0; i++)
                rc = pm_put(c, spans, i, flags, 0);
            break;
        }
    }
out:
    free(order);
    return rc;
}

/* Put items data[offs[2i]:offs[2i+1]] -> data[offs[2i+1]:offs[2i+2]] (or marshal bytes of a
 * list of 2-tuples with ZL_MULTI_MARSHAL_IN) through the cursor, in key order when that
 * pays (see the top of this section). c->madded, c->mconsumed: the counts; on an error
 * (returned) c->mfailed is the index of the item that failed. */
int zl_putmulti(zl_cursor *c, const char *data, size_t datalen, const size_t *offs,
                size_t nitems, unsigned int flags, int mode)
{
    MDB_val *spans = NULL;
    size_t n = 0, s, e, maxkey = c->txn->env->maxkey;
    int rc, sortable = !(mode & ZL_MULTI_NOSORT) && !(flags & (MDB_APPEND | MDB_APPENDDUP));
    rc = multi_spans(data, datalen, offs, nitems, 2, (mode & ZL_MULTI_MARSHAL_IN) != 0,
                     &spans, &n);
    if (rc)
        return rc;
    CURSOR_ENTER_OR(c, free(spans));
    c->madded = c->mconsumed = c->mfailed = 0;
    for (s = 0; rc == 0 && s < n; s = e + 1) {
        /* [s, e): items that pass LMDB's size checks (those it makes before any change) */
        for (e = s; e < n; e++) {
            size_t kl = spans[2 * e].mv_size, vl = spans[2 * e + 1].mv_size;
            if (kl - 1 >= maxkey || (c->dupsort && vl - 1 >= maxkey) ||
                (uint64_t)vl > 0xffffffffu)
                break;
        }
        if (sortable && e - s >= ZL_SORT_MIN) {
            rc = pm_put_sorted(c, spans, s, e, flags);
        } else {
            size_t i;
            for (i = s; i < e && rc == 0; i++)
                rc = pm_put(c, spans, i, flags, 0);
        }
        if (rc == 0 && e < n)
            rc = pm_put(c, spans, e, flags, 0); /* LMDB's own error for it */
    }
    CURSOR_LEAVE(c);
    free(spans);
    return rc;
}

/* ---- one-crossing constructors ---------------------------------------------------------- */


static ZL_TLS int zl_last_rc;

/* The error code of this thread's last failed zl_txn_new / zl_cursor_new. */
int zl_last_error(void) { return zl_last_rc; }

zl_txn *zl_txn_new(zl_env *e, zl_txn *parent, int write)
{
    zl_txn *t = NULL;
    zl_last_rc = zl_txn_begin(e, parent, write, &t);
    return zl_last_rc ? NULL : t;
}

/* zl_txn_new for a read transaction that keeps the GIL on CPython: it never waits (a resize
 * in progress makes it fail with ZL_WOULD_WAIT; then call zl_txn_new). */
zl_txn *zl_txn_new_read(zl_env *e, int flags)
{
    zl_txn *t = NULL;
    if (flags & ZL_TXN_WRITE)
        zl_last_rc = EINVAL;
    else
        zl_last_rc = zl_txn_begin(e, NULL, flags | ZL_TXN_NOWAIT, &t);
    return zl_last_rc ? NULL : t;
}

/* zl_txn_new_read(e, 0) in one argument: the plain read transaction of Environment.begin. */
zl_txn *zl_txn_begin_read(zl_env *e)
{
    zl_txn *t = NULL;
    zl_last_rc = zl_txn_begin(e, NULL, ZL_TXN_NOWAIT, &t);
    return zl_last_rc ? NULL : t;
}

zl_cursor *zl_cursor_new(zl_txn *t, unsigned int dbi)
{
    zl_cursor *c = NULL;
    zl_last_rc = zl_cursor_open(t, dbi, &c);
    return zl_last_rc ? NULL : c;
}

/* ---- scans in one crossing ------------------------------------------------------------- */

/* Count the items with start <= key < stop (stop NULL: to the end; slen 0: from the first).
 * With prefix_len > 0 counting also stops at the first key not starting with the first
 * prefix_len bytes of start. Duplicates count one each. */
int zl_count_range(zl_txn *t, unsigned int dbi, const char *start, size_t slen,
                   const char *stop, size_t stoplen, size_t prefix_len, size_t *out)
{
    MDB_cursor *cur;
    MDB_val k, v, lim;
    size_t n = 0;
    int rc;
    TXN_ENTER(t);
    rc = TE(t)->cursor_open(t->txn, dbi, &cur);
    if (rc) {
        TXN_LEAVE(t);
        return rc;
    }
    k.mv_size = slen;
    k.mv_data = (void *)start;
    lim.mv_size = stoplen;
    lim.mv_data = (void *)stop;
    rc = slen ? TE(t)->cursor_get(cur, &k, &v, MDB_SET_RANGE) : TE(t)->cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (stop && TE(t)->cmp(t->txn, dbi, &k, &lim) >= 0)
            break;
        if (prefix_len && (k.mv_size < prefix_len || memcmp(k.mv_data, start, prefix_len)))
            break;
        n++;
        rc = TE(t)->cursor_get(cur, &k, &v, MDB_NEXT);
    }
    TE(t)->cursor_close(cur);
    TXN_LEAVE(t);
    *out = n;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- one-shot reads -------------------------------------------------------------------- */

#define ZL_GET_SPARES 4 /* the size of zl_env.getspare */

static ZL_TLS char *zl_get_buf;
static ZL_TLS size_t zl_get_cap;

/* The copy made by this thread's last successful zl_env_get. */
char *zl_env_get_result(void) { return zl_get_buf; }

/* Read one key in a transaction of its own, in one crossing: renew a reset read transaction
 * (or begin one), look the key up, copy the value into this thread's buffer (with `copy`),
 * reset the transaction for the next call. Returns the value's length (the copy is at
 * zl_env_get_result()), MDB_NOTFOUND, or another error code (LMDB's, or a negated errno). */
static long long env_get(zl_env *e, unsigned int dbi, const char *key, size_t klen, int copy,
                         int nowait)
{
    MDB_txn *txn = NULL;
    MDB_val k, v;
    long long result = 0;
    int rc, in;
    if (klen == 0)
        return MDB_BAD_VALSIZE;
    if ((in = env_enter_mode(e, nowait)) <= 0)
        return in ? ZL_WOULD_WAIT : ZL_CLOSED;
    zl_mutex_lock(&e->mtx);
    if (e->ngetspare)
        txn = e->getspare[--e->ngetspare];
    zl_mutex_unlock(&e->mtx);
    if (txn && EE(e)->txn_renew(txn)) {
        EE(e)->txn_abort(txn);
        txn = NULL;
    }
    if (!txn && (rc = EE(e)->txn_begin(e->env, NULL, MDB_RDONLY, &txn))) {
        env_leave(e);
        return rc > 0 ? -rc : rc;
    }
    k.mv_size = klen;
    k.mv_data = (void *)key;
    rc = EE(e)->get(txn, dbi, &k, &v);
    if (rc == 0 && !copy) {
        result = (long long)v.mv_size;
    } else if (rc == 0) {
        if (grow((void **)&zl_get_buf, &zl_get_cap, v.mv_size + 1, 1)) {
            rc = ZL_NO_MEMORY;
        } else {
            memcpy(zl_get_buf, v.mv_data, v.mv_size);
            result = (long long)v.mv_size;
        }
    } else if (rc == MDB_BAD_VALSIZE && klen > e->maxkey) {
        rc = MDB_NOTFOUND;
    }
    EE(e)->txn_reset(txn);
    zl_mutex_lock(&e->mtx);
    if (e->ngetspare < ZL_GET_SPARES && !e->closing && e->pid == zl_getpid()) {
        /* (a fork child aborts instead: see txn_end) */
        e->getspare[e->ngetspare++] = txn;
        txn = NULL;
    }
    zl_mutex_unlock(&e->mtx);
    if (txn)
        EE(e)->txn_abort(txn);
    env_leave(e);
    if (rc)
        return rc > 0 ? -rc : rc;
    return result;
}

long long zl_env_get(zl_env *e, unsigned int dbi, const char *key, size_t klen)
{
    return env_get(e, dbi, key, klen, 1, 0);
}

/* zl_env_get without the copy: the value's length, or MDB_NOTFOUND / another error code. */
long long zl_env_has(zl_env *e, unsigned int dbi, const char *key, size_t klen)
{
    return env_get(e, dbi, key, klen, 0, 0);
}

/* The GIL-keeping forms of zl_env_get / zl_env_has: ZL_WOULD_WAIT during a resize. */
long long zl_env_get_try(zl_env *e, unsigned int dbi, const char *key, size_t klen)
{
    return env_get(e, dbi, key, klen, 1, 1);
}

long long zl_env_has_try(zl_env *e, unsigned int dbi, const char *key, size_t klen)
{
    return env_get(e, dbi, key, klen, 0, 1);
}

/* ---- the GIL on CPython ------------------------------------------------------------------
 *
 * cffi's CPython wrapper of every function releases the GIL around the call and saves and
 * restores errno (about 45 ns per call here, and a GIL hand-over whenever another thread
 * waits for it). The calls below do a bounded amount of work and never wait for another
 * thread (no env_enter wait, no mutex held across Python code, no wait_drained, no fsync),
 * so, like py-lmdb's, they keep the GIL and skip the errno dance; every other call still
 * releases it. On free-threaded CPython "keeping the GIL" means staying attached, which is
 * harmless for calls that cannot block. This text follows cffi's includes and precedes the
 * wrappers it generates, whose function names are _cffi_f_<name>; the name test folds to
 * a constant at -O2. PyPy compiles none of this (it uses the _cffi_d_ functions). */
#if !defined(PYPY_VERSION) && defined(Py_BEGIN_ALLOW_THREADS)
#ifdef __GNUC__
#define ZL_IS_WRAPPER_OF(n) (__builtin_strcmp(__func__, "_cffi_f_" n) == 0)
#else
#define ZL_IS_WRAPPER_OF(n) (strcmp(__func__, "_cffi_f_" n) == 0)
#endif
#define ZL_KEEPS_GIL                                                                        \
    (ZL_IS_WRAPPER_OF("zl_get") || ZL_IS_WRAPPER_OF("zl_put") ||                          \
     ZL_IS_WRAPPER_OF("zl_get_default") || ZL_IS_WRAPPER_OF("zl_get_via") ||              \
     ZL_IS_WRAPPER_OF("zl_getk") ||                                                       \
     ZL_IS_WRAPPER_OF("zl_del") || ZL_IS_WRAPPER_OF("zl_replace") ||                      \
     ZL_IS_WRAPPER_OF("zl_pop") || ZL_IS_WRAPPER_OF("zl_txn_alive") ||                    \
     ZL_IS_WRAPPER_OF("zl_txn_unhold") || ZL_IS_WRAPPER_OF("zl_txn_id") ||                \
     ZL_IS_WRAPPER_OF("zl_txn_new_read") || ZL_IS_WRAPPER_OF("zl_last_error") ||          \
     ZL_IS_WRAPPER_OF("zl_txn_end_read") || ZL_IS_WRAPPER_OF("zl_txn_drop") ||            \
     ZL_IS_WRAPPER_OF("zl_txn_commit_read") || ZL_IS_WRAPPER_OF("zl_txn_abort_read") ||   \
     ZL_IS_WRAPPER_OF("zl_txn_begin_read") ||                                             \
     ZL_IS_WRAPPER_OF("zl_arena_base") ||                                                 \
     ZL_IS_WRAPPER_OF("zl_env_get_try") || ZL_IS_WRAPPER_OF("zl_env_has_try") ||          \
     ZL_IS_WRAPPER_OF("zl_env_get_result") || ZL_IS_WRAPPER_OF("zl_env_is_closed") ||     \
     ZL_IS_WRAPPER_OF("zl_env_calls") || ZL_IS_WRAPPER_OF("zl_env_writing_here") ||      \
     ZL_IS_WRAPPER_OF("zl_strerror") || ZL_IS_WRAPPER_OF("zl_free") ||                    \
     ZL_IS_WRAPPER_OF("zl_cursor_step") || ZL_IS_WRAPPER_OF("zl_cursor_fill") ||          \
     ZL_IS_WRAPPER_OF("zl_cursor_op") || ZL_IS_WRAPPER_OF("zl_cursor_current") ||         \
     ZL_IS_WRAPPER_OF("zl_cursor_put") || ZL_IS_WRAPPER_OF("zl_cursor_del") ||            \
     ZL_IS_WRAPPER_OF("zl_cursor_replace") || ZL_IS_WRAPPER_OF("zl_cursor_pop") ||        \
     ZL_IS_WRAPPER_OF("zl_cursor_unhold") || ZL_IS_WRAPPER_OF("zl_cursor_count"))

static void zl_cffi_restore_errno(void) { _cffi_restore_errno(); }
static void zl_cffi_save_errno(void) { _cffi_save_errno(); }
static void zl_no_errno(void) {}

#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#undef _cffi_restore_errno
#undef _cffi_save_errno
#define Py_BEGIN_ALLOW_THREADS { PyThreadState *_save = ZL_KEEPS_GIL ? NULL : PyEval_SaveThread();
#define Py_END_ALLOW_THREADS if (_save) PyEval_RestoreThread(_save); }
#define _cffi_restore_errno (ZL_KEEPS_GIL ? zl_no_errno : zl_cffi_restore_errno)
#define _cffi_save_errno (ZL_KEEPS_GIL ? zl_no_errno : zl_cffi_save_errno)
#endif
