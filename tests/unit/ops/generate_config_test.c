/* Tests for the recipe table of server/ops/generate_config.c (spec §12): every recipe maps to its
 * action whatever the ARN's partition, the newer recipes too; unknown recipes map to nothing; the
 * variation key is the recipe renamed. The control-plane calls are tested end to end against a
 * fake control plane (tests/integration/ops/generate_config_test.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/ops/generate_config.h"

static void test_recipes_map_to_actions(void **state)
{
    (void)state;
    static const struct {
        const char *recipe;
        pz_action action;
    } cases[] = {
        {"aws-ecomm-customers-who-viewed-x-also-viewed", PZ_ACTION_RELATED_ITEMS},
        {"aws-ecomm-frequently-bought-together", PZ_ACTION_RELATED_ITEMS},
        {"aws-vod-because-you-watched-x", PZ_ACTION_RELATED_ITEMS},
        {"aws-vod-more-like-x", PZ_ACTION_RELATED_ITEMS},
        {"aws-similar-items", PZ_ACTION_RELATED_ITEMS},
        {"aws-sims", PZ_ACTION_RELATED_ITEMS},
        {"aws-ecomm-popular-items-by-purchases", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-ecomm-popular-items-by-views", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-ecomm-recommended-for-you", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-vod-most-popular", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-vod-top-picks", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-hrnn", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-hrnn-coldstart", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-hrnn-metadata", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-popularity-count", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-user-personalization", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-personalized-ranking", PZ_ACTION_RERANK_ITEMS},
        {"aws-user-personalization-v2", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-trending-now", PZ_ACTION_RECOMMEND_ITEMS},
        {"aws-personalized-ranking-v2", PZ_ACTION_RERANK_ITEMS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char arn[256];
        pz_action a = PZ_ACTION__COUNT;
        snprintf(arn, sizeof arn, "arn:aws:personalize:::recipe/%s", cases[i].recipe);
        assert_true(pz_recipe_action(arn, &a));
        assert_int_equal(a, cases[i].action);
        snprintf(arn, sizeof arn, "arn:aws-cn:personalize:::recipe/%s", cases[i].recipe);
        a = PZ_ACTION__COUNT;
        assert_true(pz_recipe_action(arn, &a));
        assert_int_equal(a, cases[i].action);
    }
    pz_action a;
    assert_false(pz_recipe_action("arn:aws:personalize:::recipe/aws-next-best-action", &a));
    assert_false(pz_recipe_action("arn:aws:personalize:::recipe/aws-sims-v9", &a));
    assert_false(pz_recipe_action("", &a));
}

static void test_variation_keys(void **state)
{
    (void)state;
    char key[64];
    pz_recipe_variation_key("arn:aws:personalize:::recipe/aws-ecomm-recommended-for-you", key, sizeof key);
    assert_string_equal(key, "personalize-ecomm-recommended-for-you");
    pz_recipe_variation_key("arn:aws:personalize:::recipe/aws-user-personalization-v2", key, sizeof key);
    assert_string_equal(key, "personalize-user-personalization-v2");
    pz_recipe_variation_key("custom-recipe", key, sizeof key);
    assert_string_equal(key, "custom-recipe");
    char small[12];
    pz_recipe_variation_key("arn:aws:personalize:::recipe/aws-sims", small, sizeof small);
    assert_string_equal(small, "personalize"); /* cut to fit, still terminated */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipes_map_to_actions),
        cmocka_unit_test(test_variation_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
