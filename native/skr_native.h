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

/* FNV-1a 64 over `data[0..len)` followed by the separator byte 0x1f,
 * continuing from `h` (SPEC section 4). */
uint64_t skr_fnv_extend(uint64_t h, const uint8_t *data, size_t len);

#endif
