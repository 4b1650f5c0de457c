/* Policies of the upstream engine (server/upstream/upstream.h), as pure state machines with
 * time and randomness passed in, so tests drive them without sleeping:
 *
 *   - pz_breaker: a per-upstream circuit breaker. Closed: calls pass; `threshold` consecutive
 *     failures open it. Open: calls are rejected at once for `open_ms`. Then half-open: exactly
 *     one probe call passes; its success closes the breaker, its failure opens it again.
 *   - pz_retry_budget: retries may add at most `ratio` extra calls per original call, plus a floor
 *     of `min_per_sec` retries per second, with at most `max_tokens` saved up (a token bucket:
 *     each original call deposits `ratio`, time deposits `min_per_sec` per second, a retry costs 1).
 *     A failing upstream therefore sees at most (1 + ratio) times the offered load, never a storm.
 *   - pz_retry_backoff_ms: exponential backoff with jitter for the retry of attempt n.
 *
 * Not thread-safe: the engine touches them from its one thread.
 */
#ifndef PZ_UPSTREAM_POLICY_H
#define PZ_UPSTREAM_POLICY_H

#include <stdbool.h>
#include <stdint.h>

typedef enum pz_breaker_state {
    PZ_BREAKER_CLOSED,
    PZ_BREAKER_OPEN,
    PZ_BREAKER_HALF_OPEN,
} pz_breaker_state;

typedef struct pz_breaker {
    pz_breaker_state state;
    int threshold;   /* consecutive failures that open it (>= 1) */
    int64_t open_ms; /* how long it stays open before a probe */
    int failures;    /* consecutive failures while closed */
    int64_t opened_at_ms;
    bool probing; /* half-open: the probe is in flight */
} pz_breaker;

void pz_breaker_init(pz_breaker *b, int threshold, int64_t open_ms);
/* May a call start now? Moves open -> half-open once open_ms passed and lets that one probe
 * through; rejects everything else while open or while the probe is in flight. */
bool pz_breaker_allow(pz_breaker *b, int64_t now_ms);
/* Records the outcome of a call that was allowed. Results that arrive while open are ignored. */
void pz_breaker_record(pz_breaker *b, bool success, int64_t now_ms);

typedef struct pz_retry_budget {
    double ratio;
    double min_per_sec;
    double max_tokens;
    double tokens;
    int64_t last_ms;
} pz_retry_budget;

/* Starts with a full bucket (max_tokens). */
void pz_retry_budget_init(pz_retry_budget *b, double ratio, double min_per_sec, double max_tokens, int64_t now_ms);
/* An original (first-attempt) call: deposits `ratio`. */
void pz_retry_budget_on_call(pz_retry_budget *b);
/* Takes one retry token if there is one. */
bool pz_retry_budget_try_spend(pz_retry_budget *b, int64_t now_ms);

/* Delay before retry number `retry` (1 = the first retry): base * 2^(retry-1), capped at cap, with
 * "equal jitter" (uniform in [d/2, d]) drawn from *seed. */
int64_t pz_retry_backoff_ms(int retry, int64_t base_ms, int64_t cap_ms, uint32_t *seed);

#endif
