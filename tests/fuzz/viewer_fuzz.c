/* libFuzzer target for what automatic context reads from untrusted request headers: the bytes are
 * split into a User-Agent (pz_useragent_classify), X-Forwarded-For and Forwarded values and a peer
 * (pz_client_ip behind trusted proxies), a CIDR block (pz_cidr_parse) and an address
 * (pz_ip_parse). Results are checked: exactly one device class, a client address that formats.
 *
 * Built and run by tests/fuzz/run.sh.
 * Fields are separated by 0x01 bytes: user-agent, x-forwarded-for, forwarded, peer, cidr.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/netaddr.h"
#include "server/core/useragent.h"

enum { UA, XFF, FORWARDED, PEER, CIDR, N_FIELDS };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *field[N_FIELDS] = {0};
    size_t len[N_FIELDS] = {0};
    const char *p = (const char *)data, *end = p + size;
    for (int f = 0; f < N_FIELDS; f++) {
        const char *sep = memchr(p, 0x01, (size_t)(end - p));
        field[f] = p;
        len[f] = (size_t)((sep != NULL ? sep : end) - p);
        p = sep != NULL ? sep + 1 : end;
    }

    pz_device d;
    pz_useragent_classify(field[UA], len[UA], &d);
    if (d.desktop + d.mobile + d.tablet + d.smart_tv != 1)
        abort();

    pz_cidr trusted[2];
    size_t n_trusted = 0;
    if (pz_cidr_parse(field[CIDR], len[CIDR], &trusted[n_trusted]))
        n_trusted++;
    pz_cidr_parse("0.0.0.0/0", 9, &trusted[n_trusted++]); /* every IPv4 peer is a proxy: headers are read */
    pz_header headers[2] = {{"x-forwarded-for", 15, field[XFF], len[XFF]},
                            {"forwarded", 9, field[FORWARDED], len[FORWARDED]}};
    pz_ip peer, client;
    const char *via;
    if (!pz_ip_parse_peer(field[PEER], len[PEER], &peer))
        pz_ip_parse("10.0.0.1", 8, &peer);
    for (size_t n = 1; n <= 2; n++) { /* X-Forwarded-For alone, then with Forwarded */
        if (!pz_client_ip(&peer, headers, n, trusted, n_trusted, &client, &via))
            abort();
        char text[PZ_IP_TEXT_SIZE];
        pz_ip_format(&client, text);
        if (text[0] == '\0')
            abort();
    }
    pz_ip ip;
    pz_ip_parse(field[PEER], len[PEER], &ip);
    return 0;
}
