/* Writes a synthetic history (synth.h) as an Amazon Personalize interactions CSV on stdout, in time
 * order: USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE.
 *
 *   gen_history USERS ITEMS EVENTS [SEED [SEGMENTS]] > history.csv */
#include <stdio.h>
#include <stdlib.h>

#include "synth.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s USERS ITEMS EVENTS [SEED [SEGMENTS]]\n", argv[0]);
        return 2;
    }
    synth_options o;
    synth_defaults(&o);
    o.users = strtoull(argv[1], NULL, 10);
    o.items = strtoull(argv[2], NULL, 10);
    o.events = strtoull(argv[3], NULL, 10);
    if (argc > 4)
        o.seed = strtoull(argv[4], NULL, 10);
    if (argc > 5)
        o.segments = strtoull(argv[5], NULL, 10);
    synth *s = synth_new(&o);
    synth_event e;
    static char buf[1 << 20];
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
    puts("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE");
    while (synth_next(s, &e))
        printf("user-%u,item-%07u,%lld.%03lld,%s\n", e.user, e.item, (long long)(e.t_ms / 1000),
               (long long)(e.t_ms % 1000), e.type);
    synth_free(s);
    return 0;
}
