/* Amazon Resource Names (module prefix pz_arn): arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE,
 * split once for whoever needs a part of one: the region a Personalize campaign or a Lambda
 * function lives in, the partition/region/account a Personalize filter name is completed with,
 * a Lambda function's name and qualifier (the resource).
 *
 * Only the shape is checked (the "arn" prefix and six ':'-separated fields, the resource being
 * everything after the fifth ':'); what a field may hold is the configuration's business. Pure;
 * any thread.
 */
#ifndef PZ_ARN_H
#define PZ_ARN_H

typedef struct pz_arn {
    char partition[32]; /* "aws", "aws-cn", "aws-us-gov", ... */
    char service[64];   /* "personalize", "lambda", ... */
    char region[64];    /* "" for global resources */
    char account[32];
    const char *resource; /* the rest ("campaign/c", "function:f:live"), inside the parsed string */
} pz_arn;

/* Splits arn into *out. Returns 0, or -1 when arn is NULL, does not start with "arn:", has fewer
 * than six fields or a field (but the resource) longer than its member. */
int pz_arn_parse(const char *arn, pz_arn *out);

#endif
