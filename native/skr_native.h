/*
 * skruntime native kernel.
 *
 * Pure functions over caller-owned memory: no allocation, no globals, no I/O.
 * Every function has a pure-Python twin in skruntime/ (see _fingerprint.py and
 * _routing.py); the test suite runs both and requires identical results.
 */
#ifndef SKR_NATIVE_H
#define SKR_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#define SKR_FNV_OFFSET 0xcbf29ce484222325ULL

/* Verdicts of skr_route. */
#define SKR_MISMATCH 0
#define SKR_MATCH 1
#define SKR_TOO_SHORT 2
#define SKR_OTHER 3

/* FNV-1a 64 over `data[0..len)` followed by the separator byte 0x1f,
 * continuing from `h` (SPEC section 4). */
uint64_t skr_fnv_extend(uint64_t h, const uint8_t *data, size_t len);
/* The chain h_1..h_n over n event types given one after the other in
 * `data` (their sizes in lens): out[i] = extend(out[i-1], type i). */
void skr_fnv_chain(uint64_t h, const uint8_t *data, const size_t *lens, size_t n, uint64_t *out);

/* One routing pass over a shard's resident fingerprints (see route.c). */
size_t skr_route(const uint64_t *const *columns, size_t n_columns,
                 const uint32_t *lengths, const uint16_t *versions, size_t n_slots,
                 uint16_t version, uint32_t k, const uint64_t *prefix,
                 uint8_t *out);

/* The record sealer (seal.c; seal_stub.c when built without OpenSSL and
 * libzstd).  Return codes of skr_seal_group: */
#define SKR_SEAL_OK 0
#define SKR_SEAL_UNAVAILABLE (-1)
#define SKR_SEAL_SPACE (-2)
#define SKR_SEAL_RANDOM (-3)
#define SKR_SEAL_ZSTD (-4)
#define SKR_SEAL_CRYPTO (-5)

/* Per-thread state: a zstd compression context and a cipher context. */
typedef struct skr_sealer skr_sealer;

/* 1 when the sealer was built, 0 for the stand-in. */
int skr_seal_available(void);
skr_sealer *skr_sealer_new(void);
void skr_sealer_free(skr_sealer *s);

/* Seals n records of one database.  `dbpart` is the database's part of
 * the associated data (length byte + name); `keys` and `plains` hold the
 * records' keys and plaintexts one after the other, their sizes in
 * key_lens[i] and plain_lens[i].  `key` is the 32-byte data key, `header`
 * the 5-byte record prefix (format byte, key id big-endian).  Records are
 * written one after the other into `out`, the size of record i into
 * out_lens[i].  `out_capacity` must cover 33 + ZSTD_compressBound(plaintext
 * size) per record (else SKR_SEAL_SPACE, with nothing promised about
 * `out`). */
int skr_seal_group(skr_sealer *s, const uint8_t *key, const uint8_t *header, int level,
                   const uint8_t *dbpart, size_t dbpart_len,
                   const uint8_t *keys, const size_t *key_lens,
                   const uint8_t *plains, const size_t *plain_lens, size_t n,
                   uint8_t *out, size_t out_capacity, size_t *out_lens);

#endif
