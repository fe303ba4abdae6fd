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

/* One routing pass over a shard's resident fingerprints (see route.c). */
size_t skr_route(const uint64_t *const *columns, size_t n_columns,
                 const uint32_t *lengths, const uint16_t *versions, size_t n_slots,
                 uint16_t version, uint32_t k, const uint64_t *prefix,
                 uint8_t *out);

#endif
