#include "skr_native.h"

/*
 * The routing pass (SPEC section 4; pure twin: skruntime/_routing.py).
 *
 * A shard keeps its actors' fingerprint chains as one column per depth:
 * columns[d][slot] is h_{d+1} of the actor in `slot` (defined when
 * lengths[slot] > d).  For a historyPath P of length k >= 1 with prefix
 * hashes prefix[i] = hash(P[0..i)) for i = 0..k, each slot whose version code
 * equals `version` is classified:
 *
 *   SKR_MATCH      n >= k and h_k == prefix[k]        (confirm P exactly)
 *   SKR_TOO_SHORT  n <  k and h_n == prefix[n]        (confirm the prefix)
 *   SKR_MISMATCH   otherwise
 *   SKR_OTHER      the slot is on another version (or free)
 *
 * where h_0 is the FNV offset basis.  Hash equality is the fast filter; the
 * caller confirms candidates by comparing event types, which rules out
 * collisions.  Returns the number of candidate slots (MATCH + TOO_SHORT).
 */
size_t skr_route(const uint64_t *const *columns, size_t n_columns,
                 const uint32_t *lengths, const uint16_t *versions, size_t n_slots,
                 uint16_t version, uint32_t k, const uint64_t *prefix,
                 uint8_t *out)
{
    size_t candidates = 0;
    if (k == 0) {
        /* An empty path matches everyone: the caller's job. */
        for (size_t i = 0; i < n_slots; i++)
            out[i] = versions[i] == version ? SKR_MISMATCH : SKR_OTHER;
        return 0;
    }
    /* Column k-1 exists whenever some actor has k or more events (paths are
     * never deeper than the resident columns); if none does, every actor is
     * shorter than the path and only the prefix test applies. */
    const uint64_t *column_k = k <= n_columns ? columns[k - 1] : NULL;
    const uint64_t target = prefix[k];
    for (size_t i = 0; i < n_slots; i++) {
        if (versions[i] != version) {
            out[i] = SKR_OTHER;
            continue;
        }
        uint32_t n = lengths[i];
        uint8_t verdict;
        if (n >= k) {
            verdict = column_k != NULL && column_k[i] == target ? SKR_MATCH : SKR_MISMATCH;
        } else {
            uint64_t h = n ? columns[n - 1][i] : SKR_FNV_OFFSET;
            verdict = h == prefix[n] ? SKR_TOO_SHORT : SKR_MISMATCH;
        }
        out[i] = verdict;
        candidates += verdict != SKR_MISMATCH;
    }
    return candidates;
}
