/* zlmdb: the table of LMDB entry points one engine provides.
 *
 * zlmdb links two LMDB engines into one module: 0.9 (the default, mdb_* symbols) and 1.0
 * (symbols renamed to mdb10_* by the sdist's rename.h). Each zl_env points at the table of
 * the engine that opened it and every helper calls LMDB through that table, so one copy of
 * the helpers serves both file formats. The table is filled in once per engine, by a
 * translation unit that includes that engine's lmdb.h: _helpers.c for 0.9, _engine10.c for
 * 1.0. The signatures below are written with the types both headers share (MDB_val,
 * MDB_stat, MDB_envinfo and the cursor ops have the same layout in both on the platforms
 * zlmdb builds for; engine_of() in _helpers.c compares the struct sizes at run time and
 * leaves the 1.0 engine out if they differ).
 */
#ifndef ZL_ENGINE_H
#define ZL_ENGINE_H

#ifdef MDB_VL32 /* 64-bit mdb_size_t on 32-bit: the shared signatures below would not hold */
#error "zlmdb does not build LMDB with MDB_VL32"
#endif

typedef struct zl_engine {
    int major, minor, patch;
    int (*env_create)(MDB_env **env);
    int (*env_open)(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode);
    void (*env_close)(MDB_env *env);
    int (*env_set_mapsize)(MDB_env *env, size_t size);
    int (*env_set_maxreaders)(MDB_env *env, unsigned int n);
    int (*env_set_maxdbs)(MDB_env *env, MDB_dbi n);
    int (*env_stat)(MDB_env *env, MDB_stat *st);
    int (*env_info)(MDB_env *env, MDB_envinfo *info);
    int (*env_sync)(MDB_env *env, int force);
    int (*env_get_flags)(MDB_env *env, unsigned int *flags);
    int (*env_get_maxreaders)(MDB_env *env, unsigned int *n);
    int (*env_get_maxkeysize)(MDB_env *env);
    int (*env_copy3)(MDB_env *env, const char *path, unsigned int flags, MDB_txn *txn);
    int (*env_copyfd3)(MDB_env *env, mdb_filehandle_t fd, unsigned int flags, MDB_txn *txn);
    int (*reader_list)(MDB_env *env, MDB_msg_func *func, void *ctx);
    int (*reader_check)(MDB_env *env, int *dead);
    int (*txn_begin)(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);
    int (*txn_commit)(MDB_txn *txn);
    void (*txn_abort)(MDB_txn *txn);
    void (*txn_reset)(MDB_txn *txn);
    int (*txn_renew)(MDB_txn *txn);
    size_t (*txn_id)(MDB_txn *txn);
    int (*dbi_open)(MDB_txn *txn, const char *name, unsigned int flags, MDB_dbi *dbi);
    int (*dbi_flags)(MDB_txn *txn, MDB_dbi dbi, unsigned int *flags);
    int (*stat)(MDB_txn *txn, MDB_dbi dbi, MDB_stat *st);
    int (*drop)(MDB_txn *txn, MDB_dbi dbi, int del);
    int (*get)(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
    int (*put)(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags);
    int (*del)(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
    int (*cmp)(MDB_txn *txn, MDB_dbi dbi, const MDB_val *a, const MDB_val *b);
    int (*cursor_open)(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cursor);
    void (*cursor_close)(MDB_cursor *cursor);
    int (*cursor_get)(MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op);
    int (*cursor_put)(MDB_cursor *cursor, MDB_val *key, MDB_val *data, unsigned int flags);
    int (*cursor_del)(MDB_cursor *cursor, unsigned int flags);
    int (*cursor_count)(MDB_cursor *cursor, size_t *count);
    MDB_dbi (*cursor_dbi)(MDB_cursor *cursor);
    char *(*strerror)(int err);
    void *(*env_get_map)(MDB_env *env); /* zlmdb's own patch: the map's address */
    size_t stat_size, envinfo_size, val_size;
    size_t page_header; /* bytes before a page's data: 0.9 pgno,pad,flags,lower,upper; 1.0 adds txnid */
} zl_engine;

/* One initializer for both engines: expands to the functions the including translation
 * unit's lmdb.h declares (mdb_* for 0.9, mdb10_* through rename.h for 1.0). */
#define ZL_ENGINE_TABLE                                                                     \
    {                                                                                       \
        MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH, mdb_env_create,            \
            mdb_env_open, mdb_env_close, mdb_env_set_mapsize, mdb_env_set_maxreaders,       \
            mdb_env_set_maxdbs, mdb_env_stat, mdb_env_info, mdb_env_sync,                   \
            mdb_env_get_flags, mdb_env_get_maxreaders, mdb_env_get_maxkeysize,              \
            mdb_env_copy3, mdb_env_copyfd3, mdb_reader_list, mdb_reader_check,              \
            mdb_txn_begin, mdb_txn_commit, mdb_txn_abort, mdb_txn_reset, mdb_txn_renew,     \
            mdb_txn_id, mdb_dbi_open, mdb_dbi_flags, mdb_stat, mdb_drop, mdb_get, mdb_put,  \
            mdb_del, mdb_cmp, mdb_cursor_open, mdb_cursor_close, mdb_cursor_get,            \
            mdb_cursor_put, mdb_cursor_del, mdb_cursor_count, mdb_cursor_dbi, mdb_strerror, \
            mdb_env_get_map,                                                                \
            sizeof(MDB_stat), sizeof(MDB_envinfo), sizeof(MDB_val),                         \
            (MDB_VERSION_MAJOR + 1) * sizeof(size_t) + 8                                    \
    }

#endif
