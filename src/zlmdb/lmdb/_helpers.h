/* zlmdb C helpers: the declarations cffi sees (build_lmdb.py feeds this file to ffi.cdef).
 * Keep it free of preprocessor lines: cffi parses it as plain declarations. */

#define ZL_CLOSED -30600
#define ZL_BUSY_SAME_THREAD -30601
#define ZL_NESTED_READONLY -30602
#define ZL_NO_MEMORY -30603
#define ZL_KEYFIXED_SIZE -30604
#define ZL_HELD -30605
#define ZL_MAPPED_LEN_BITS 22
#define ZL_UNPOSITIONED -30606
#define ZL_WOULD_WAIT -30607
#define ZL_VIA_SIZE -30608
#define ZL_FORKED -30609

#define ZL_TXN_WRITE 1
#define ZL_TXN_NOCOPY 2
#define ZL_PRELOAD 4
#define ZL_NOCOPY 8
#define ZL_TXN_NOWAIT 16

#define ZL_COPY_MAX 4096
#define ZL_KEYBUF 512
#define ZL_SLOT_SIZE 8192
#define ZL_SLOTS 1024

#define ZL_NOT_PLAIN -30620

#define ZL_MULTI_DUPDATA 1
#define ZL_MULTI_VALUES 2
#define ZL_MULTI_KEYFIXED 4
#define ZL_MULTI_MARSHAL_IN 8
#define ZL_MULTI_MARSHAL_OUT 16
#define ZL_MULTI_FORMAT 32
#define ZL_MULTI_NOSORT 64
#define ZL_MULTI_RECORDS 128
#define ZL_SORT_MIN 32

#define ZL_FILL_KEYS 1
#define ZL_FILL_VALUES 2
#define ZL_FILL_FORMAT 4
#define ZL_FORMAT_SKIP_KEYS 8
#define ZL_FORMAT_SKIP_VALUES 16

typedef struct zl_env zl_env;

typedef struct zl_txn {
    char *vp;        /* the old value zl_replace / zl_pop hand back */
    size_t vl;
    int stage;       /* replace/pop: the call that failed (0 lookup, 1 delete, 2 put, 3 open) */
    unsigned int dbi; /* default database of zl_get_default (set once, before first use) */
    char *map;       /* the memory map while this txn lives */
    size_t mapsize;
    ...;
} zl_txn;

typedef struct zl_cursor {
    char *kp;        /* current key, valid while positioned */
    size_t kl;
    char *vp;        /* current value */
    size_t vl;
    int positioned;
    char *buf;       /* packed block of items (zl_cursor_fill, zl_getmulti) */
    size_t *offs;    /* item boundaries inside buf */
    size_t nout;     /* items in the block */
    volatile long state; /* 0 while the cursor (and its txn and env) are usable */
    char *ok;        /* current key/value published by zl_cursor_current / zl_cursor_step */
    size_t okl;
    char *ov;
    size_t ovl;
    char *fmt;       /* struct format of the block (ZL_FILL_FORMAT): "<16s100s..." */
    size_t fmtlen;
    size_t mlen;     /* zl_getmulti: bytes of the result in buf */
    int mkind;       /* zl_getmulti: 2 records of fmt, 1 marshal bytes, 0 a block (offs) */
    size_t madded;   /* zl_putmulti: items added, consumed, the index of the failing one */
    size_t mconsumed;
    size_t mfailed;
    ...;
} zl_cursor;

char *zl_strerror(int err);
int zl_engine_version(int engine, int *major, int *minor, int *patch);
int zl_env_open(int engine, const char *path, unsigned int flags, int mode, size_t map_size,
                unsigned int max_readers, unsigned int max_dbs, unsigned int max_spare,
                zl_env **out);
void zl_env_close(zl_env *e);
void zl_env_release(zl_env *e);
int zl_env_stat(zl_env *e, MDB_stat *st);
int zl_env_info(zl_env *e, MDB_envinfo *info);
int zl_env_sync(zl_env *e, int force);
int zl_env_copy(zl_env *e, const char *path, unsigned int flags, zl_txn *t);
int zl_env_copyfd(zl_env *e, int fd, unsigned int flags, zl_txn *t);
int zl_env_set_mapsize(zl_env *e, size_t size);
int zl_env_get_flags(zl_env *e, unsigned int *flags);
int zl_env_get_maxreaders(zl_env *e, unsigned int *n);
int zl_env_get_maxkeysize(zl_env *e, int *n);
int zl_env_readers(zl_env *e, char **out);
void zl_free(void *p);
int zl_env_reader_check(zl_env *e, int *dead);
int zl_env_is_closed(zl_env *e);
long zl_env_calls(zl_env *e);
int zl_env_writing_here(zl_env *e);

int zl_txn_begin(zl_env *e, zl_txn *parent, int flags, zl_txn **out);
void zl_txn_unhold(zl_txn *t);
int zl_txn_commit(zl_txn *t);
int zl_txn_abort(zl_txn *t);
void zl_txn_release(zl_txn *t);
int zl_txn_end_read(zl_txn *t, int commit);
void zl_txn_drop(zl_txn *t);
int zl_txn_commit_read(zl_txn *t);
int zl_txn_abort_read(zl_txn *t);
char *zl_arena_base(void);
char *zl_thread_vp(void);
size_t zl_thread_vl(void);
char *zl_thread_kbuf(void);
int zl_txn_alive(zl_txn *t);
int zl_txn_id(zl_txn *t, size_t *id);
int zl_dbi_open(zl_txn *t, const char *name, unsigned int flags, unsigned int *dbi);
int zl_dbi_flags(zl_txn *t, unsigned int dbi, unsigned int *flags);
int zl_stat(zl_txn *t, unsigned int dbi, MDB_stat *st);
int zl_drop(zl_txn *t, unsigned int dbi, int del);

long long zl_get(zl_txn *t, unsigned int dbi, const char *key, size_t klen);
long long zl_get_default(zl_txn *t, const char *key, size_t klen);
long long zl_get_via(zl_txn *t, unsigned int dbi, const char *key, size_t klen,
                     const char *prefix, size_t plen, size_t want);
long long zl_getk(zl_txn *t, unsigned int dbi, size_t klen);
int zl_put(zl_txn *t, unsigned int dbi, const char *key, size_t klen,
           const char *val, size_t vlen, unsigned int flags);
int zl_del(zl_txn *t, unsigned int dbi, const char *key, size_t klen,
           const char *val, size_t vlen);
int zl_replace(zl_txn *t, unsigned int dbi, const char *key, size_t klen,
               const char *val, size_t vlen);
int zl_pop(zl_txn *t, unsigned int dbi, const char *key, size_t klen);

int zl_cursor_open(zl_txn *t, unsigned int dbi, zl_cursor **out);
int zl_cursor_close(zl_cursor *c);
void zl_cursor_release(zl_cursor *c);
int zl_cursor_op(zl_cursor *c, int op, const char *key, size_t klen,
                 const char *val, size_t vlen);
int zl_cursor_current(zl_cursor *c, int what);
int zl_cursor_step(zl_cursor *c, int op, int what);
void zl_cursor_unhold(zl_cursor *c);
int zl_cursor_count(zl_cursor *c, size_t *n);
int zl_cursor_put(zl_cursor *c, const char *key, size_t klen, const char *val, size_t vlen,
                  unsigned int flags);
int zl_cursor_del(zl_cursor *c, unsigned int flags);
int zl_cursor_replace(zl_cursor *c, const char *key, size_t klen, const char *val,
                      size_t vlen);
int zl_cursor_pop(zl_cursor *c, const char *key, size_t klen);
int zl_cursor_fill(zl_cursor *c, int first_op, int next_op, int what, size_t max_items,
                   size_t max_bytes);
int zl_getmulti(zl_cursor *c, const char *keys, size_t keyslen, const size_t *koffs,
                size_t nkeys, int mode, size_t dupfixed_bytes);
int zl_putmulti(zl_cursor *c, const char *data, size_t datalen, const size_t *offs,
                size_t nitems, unsigned int flags, int mode);
int zl_multi_order(zl_cursor *c, const char *keys, const size_t *koffs, size_t n,
                   size_t *order);

int zl_last_error(void);
zl_txn *zl_txn_new(zl_env *e, zl_txn *parent, int flags);
zl_txn *zl_txn_new_read(zl_env *e, int flags);
zl_txn *zl_txn_begin_read(zl_env *e);
zl_cursor *zl_cursor_new(zl_txn *t, unsigned int dbi);
int zl_count_range(zl_txn *t, unsigned int dbi, const char *start, size_t slen,
                   const char *stop, size_t stoplen, size_t prefix_len, size_t *out);

long long zl_env_get(zl_env *e, unsigned int dbi, const char *key, size_t klen);
char *zl_env_get_result(void);
long long zl_env_has(zl_env *e, unsigned int dbi, const char *key, size_t klen);
long long zl_env_get_try(zl_env *e, unsigned int dbi, const char *key, size_t klen);
long long zl_env_has_try(zl_env *e, unsigned int dbi, const char *key, size_t klen);
