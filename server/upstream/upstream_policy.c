#include "server/upstream/upstream_policy.h"

void pz_breaker_init(pz_breaker *b, int threshold, int64_t open_ms)
{
    *b = (pz_breaker){.state = PZ_BREAKER_CLOSED, .threshold = threshold < 1 ? 1 : threshold, .open_ms = open_ms};
}

static void trip(pz_breaker *b, int64_t now_ms)
{
    b->state = PZ_BREAKER_OPEN;
    b->opened_at_ms = now_ms;
    b->probing = false;
    b->failures = 0;
}

bool pz_breaker_allow(pz_breaker *b, int64_t now_ms)
{
    switch (b->state) {
    case PZ_BREAKER_CLOSED: return true;
    case PZ_BREAKER_OPEN:
        if (now_ms - b->opened_at_ms < b->open_ms)
            return false;
        b->state = PZ_BREAKER_HALF_OPEN;
        b->probing = true;
        return true;
    case PZ_BREAKER_HALF_OPEN:
        if (b->probing)
            return false;
        b->probing = true;
        return true;
    }
    return false;
}

void pz_breaker_record(pz_breaker *b, bool success, int64_t now_ms)
{
    switch (b->state) {
    case PZ_BREAKER_CLOSED:
        if (success) {
            b->failures = 0;
        } else if (++b->failures >= b->threshold) {
            trip(b, now_ms);
        }
        break;
    case PZ_BREAKER_HALF_OPEN:
        if (success) {
            b->state = PZ_BREAKER_CLOSED;
            b->failures = 0;
            b->probing = false;
        } else {
            trip(b, now_ms);
        }
        break;
    case PZ_BREAKER_OPEN: break; /* a straggler started before the breaker opened */
    }
}

void pz_retry_budget_init(pz_retry_budget *b, double ratio, double min_per_sec, double max_tokens, int64_t now_ms)
{
    *b = (pz_retry_budget){
        .ratio = ratio, .min_per_sec = min_per_sec, .max_tokens = max_tokens, .tokens = max_tokens, .last_ms = now_ms};
}

static void deposit(pz_retry_budget *b, double amount)
{
    b->tokens += amount;
    if (b->tokens > b->max_tokens)
        b->tokens = b->max_tokens;
}

void pz_retry_budget_on_call(pz_retry_budget *b)
{
    deposit(b, b->ratio);
}

bool pz_retry_budget_try_spend(pz_retry_budget *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        deposit(b, b->min_per_sec * (double)(now_ms - b->last_ms) / 1000.0);
        b->last_ms = now_ms;
    }
    if (b->tokens < 1.0 - 1e-9) /* ten deposits of 0.1 make one token, rounding aside */
        return false;
    b->tokens -= 1.0;
    return true;
}

int64_t pz_retry_backoff_ms(int retry, int64_t base_ms, int64_t cap_ms, uint32_t *seed)
{
    int64_t d = base_ms;
    for (int i = 1; i < retry && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    /* xorshift32: deterministic for a given seed, good enough for jitter */
    uint32_t x = *seed != 0 ? *seed : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *seed = x;
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)(x % (uint32_t)(d - half + 1)) : 0);
}
