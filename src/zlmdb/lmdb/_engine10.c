/* zlmdb: the LMDB 1.0 engine's entry-point table (see _engine.h).
 *
 * Compiled as its own translation unit: it includes the 1.0 tree's lmdb.h, whose rename.h
 * turns every mdb_* name into the mdb10_* symbol that tree was compiled with. */
#include "lmdb10/lmdb.h"
#include "_engine.h"

const zl_engine zl_engine_v10 = ZL_ENGINE_TABLE;
