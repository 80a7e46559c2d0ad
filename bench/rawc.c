/* The limit: bench/lowlevel.py's workloads written directly against LMDB's C API.
 *
 * Built and run by bench/rawc.py against the pinned, patched LMDB that build_lmdb.py extracts
 * into lmdb-src/build/. Usage: rawc DIR KEYFILE REPEAT; KEYFILE holds the benchmark's keys
 * (16 bytes each, in the random order lowlevel.py uses). Prints one "name ops_per_second" line
 * per workload, the best of REPEAT runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "lmdb.h"

#define KEYLEN 16
#define VALLEN 100

static char value[VALLEN];
static char *keys, *sorted;
static size_t nkeys;
static const char *root;
static int serial;

#define CHECK(call)                                                                        \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_) {                                                                         \
            fprintf(stderr, "%s: %s\n", #call, mdb_strerror(rc_));                         \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static MDB_env *fresh_env(void)
{
    char path[4096];
    MDB_env *env;
    snprintf(path, sizeof path, "%s/env%d", root, serial++);
    mkdir(path, 0700);
    CHECK(mdb_env_create(&env));
    CHECK(mdb_env_set_mapsize(env, (size_t)1 << 31));
    CHECK(mdb_env_set_maxdbs(env, 2));
    CHECK(mdb_env_open(env, path, MDB_NOSYNC | MDB_NOMETASYNC, 0644));
    return env;
}

static MDB_env *filled_env(MDB_dbi *dbi)
{
    MDB_env *env = fresh_env();
    MDB_txn *txn;
    MDB_val k, v;
    size_t i;
    CHECK(mdb_txn_begin(env, NULL, 0, &txn));
    CHECK(mdb_dbi_open(txn, NULL, 0, dbi));
    v.mv_size = VALLEN;
    v.mv_data = value;
    for (i = 0; i < nkeys; i++) {
        k.mv_size = KEYLEN;
        k.mv_data = sorted + i * KEYLEN;
        CHECK(mdb_put(txn, *dbi, &k, &v, MDB_APPEND));
    }
    CHECK(mdb_txn_commit(txn));
    return env;
}

static double put(void)
{
    MDB_env *env = fresh_env();
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k, v;
    size_t i;
    double t0 = now();
    CHECK(mdb_txn_begin(env, NULL, 0, &txn));
    CHECK(mdb_dbi_open(txn, NULL, 0, &dbi));
    for (i = 0; i < nkeys; i++) {
        k.mv_size = KEYLEN;
        k.mv_data = keys + i * KEYLEN;
        v.mv_size = VALLEN;
        v.mv_data = value;
        CHECK(mdb_put(txn, dbi, &k, &v, 0));
    }
    CHECK(mdb_txn_commit(txn));
    t0 = nkeys / (now() - t0);
    mdb_env_close(env);
    return t0;
}

/* get, copying each value out as a binding must */
static double get(void)
{
    MDB_dbi dbi;
    MDB_env *env = filled_env(&dbi);
    MDB_txn *txn;
    MDB_val k, v;
    size_t i, sum = 0;
    char out[VALLEN];
    double t0 = now();
    CHECK(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
    for (i = 0; i < nkeys; i++) {
        k.mv_size = KEYLEN;
        k.mv_data = keys + i * KEYLEN;
        CHECK(mdb_get(txn, dbi, &k, &v));
        memcpy(out, v.mv_data, v.mv_size);
        sum += (unsigned char)out[0];
    }
    mdb_txn_abort(txn);
    t0 = nkeys / (now() - t0);
    mdb_env_close(env);
    return sum ? t0 : 0;
}

static double iterate(int values)
{
    MDB_dbi dbi;
    MDB_env *env = filled_env(&dbi);
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t n = 0, sum = 0;
    double t0 = now();
    CHECK(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
    CHECK(mdb_cursor_open(txn, dbi, &cur));
    while (mdb_cursor_get(cur, &k, &v, n ? MDB_NEXT : MDB_FIRST) == 0) {
        sum += ((unsigned char *)k.mv_data)[0] + (values ? ((unsigned char *)v.mv_data)[0] : 0);
        n++;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    t0 = n / (now() - t0);
    mdb_env_close(env);
    return (n == nkeys && sum) ? t0 : 0;
}

static double put_txn_each(void)
{
    MDB_env *env = fresh_env();
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k, v;
    size_t i, n = nkeys / 20 > 100 ? nkeys / 20 : 100;
    double t0;
    if (n > nkeys)
        n = nkeys;
    CHECK(mdb_txn_begin(env, NULL, 0, &txn));
    CHECK(mdb_dbi_open(txn, NULL, 0, &dbi));
    CHECK(mdb_txn_commit(txn));
    t0 = now();
    for (i = 0; i < n; i++) {
        CHECK(mdb_txn_begin(env, NULL, 0, &txn));
        k.mv_size = KEYLEN;
        k.mv_data = keys + i * KEYLEN;
        v.mv_size = VALLEN;
        v.mv_data = value;
        CHECK(mdb_put(txn, dbi, &k, &v, 0));
        CHECK(mdb_txn_commit(txn));
    }
    t0 = n / (now() - t0);
    mdb_env_close(env);
    return t0;
}

/* a new read transaction per get (reset/renew is what a binding can reuse; begin is the
 * plain C spelling of `with env.begin() as txn: txn.get(key)`) */
static double get_txn_each(void)
{
    MDB_dbi dbi;
    MDB_env *env = filled_env(&dbi);
    MDB_txn *txn;
    MDB_val k, v;
    size_t i, n = nkeys / 2 > 100 ? nkeys / 2 : 100, sum = 0;
    char out[VALLEN];
    double t0 = now();
    if (n > nkeys)
        n = nkeys;
    for (i = 0; i < n; i++) {
        CHECK(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
        k.mv_size = KEYLEN;
        k.mv_data = keys + i * KEYLEN;
        CHECK(mdb_get(txn, dbi, &k, &v));
        memcpy(out, v.mv_data, v.mv_size);
        sum += (unsigned char)out[0];
        mdb_txn_abort(txn);
    }
    t0 = n / (now() - t0);
    mdb_env_close(env);
    return sum ? t0 : 0;
}

static int by_key(const void *a, const void *b) { return memcmp(a, b, KEYLEN); }

int main(int argc, char **argv)
{
    FILE *fp;
    long size;
    int repeat, r;
    struct {
        const char *name;
        double (*fn)(void);
        int arg;
    } *w, work[] = {
        {"put", put, 0},
        {"get", get, 0},
        {"iterate", NULL, 1},
        {"iterate_keys", NULL, 0},
        {"put_txn_each", put_txn_each, 0},
        {"get_txn_each", get_txn_each, 0},
        {NULL, NULL, 0},
    };
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR KEYFILE REPEAT\n", argv[0]);
        return 2;
    }
    root = argv[1];
    repeat = atoi(argv[3]);
    memset(value, 'x', VALLEN);
    if (!(fp = fopen(argv[2], "rb")))
        return perror(argv[2]), 1;
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    rewind(fp);
    nkeys = (size_t)size / KEYLEN;
    keys = malloc(nkeys * KEYLEN);
    sorted = malloc(nkeys * KEYLEN);
    if (!keys || !sorted || fread(keys, KEYLEN, nkeys, fp) != nkeys)
        return fprintf(stderr, "cannot read %s\n", argv[2]), 1;
    fclose(fp);
    memcpy(sorted, keys, nkeys * KEYLEN);
    qsort(sorted, nkeys, KEYLEN, by_key);
    for (w = work; w->name; w++) {
        double best = 0, ops;
        for (r = 0; r < repeat; r++) {
            ops = w->fn ? w->fn() : iterate(w->arg);
            if (ops > best)
                best = ops;
        }
        printf("%s %.0f\n", w->name, best);
        fflush(stdout);
    }
    return 0;
}
