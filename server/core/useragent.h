/* The User-Agent classifier: the device and OS a request comes from, as CloudFront reports them
 * in its CloudFront-Is-{Desktop,Mobile,Tablet,SmartTV,Android,IOS}-Viewer headers, for servers
 * that run without CloudFront in front (server/core/viewer.h fills those headers from it when
 * they are absent).
 *
 * Rules (pz_useragent_classify), matched case-insensitively as substrings of the first
 * PZ_UA_MAX_SCAN bytes, in this order; the first class that matches wins:
 *   1. smart TV: smart-tv, smarttv, smart tv, googletv, google tv, androidtv, android tv, appletv,
 *      apple tv, hbbtv, crkey (Chromecast), roku, aftb/aftm/afts/aftt/aftka/aftkm (Fire TV),
 *      bravia, netcast, web0s;
 *   2. tablet: ipad, tablet, kindle, silk/, playbook, nexus 7, nexus 9, nexus 10, sm-t (Galaxy
 *      Tab); and "android" without "mobile" (Android tablets leave "Mobile" out of their UA);
 *   3. mobile: mobile, iphone, ipod, android, windows phone, blackberry, bb10, opera mini,
 *      iemobile, kaios, symbian;
 *   4. desktop: everything else, an absent or empty User-Agent included.
 * Exactly one of desktop, mobile, tablet and smart_tv is true. Independently:
 *   - ios: iphone, ipad or ipod (iPadOS 13+ Safari announces itself as a Mac and is a desktop);
 *   - android: android, unless the UA is a Windows Phone's (whose UA names Android too).
 *
 * Pure: any thread, no allocation.
 */
#ifndef PZ_USERAGENT_H
#define PZ_USERAGENT_H

#include <stdbool.h>
#include <stddef.h>

/* Only this much of a User-Agent is read: device tokens sit near the start. */
#define PZ_UA_MAX_SCAN 512

typedef struct pz_device {
    bool desktop, mobile, tablet, smart_tv;
    bool android, ios;
} pz_device;

/* Classifies ua[0..len) (ua may be NULL when len is 0). */
void pz_useragent_classify(const char *ua, size_t len, pz_device *out);

#endif
