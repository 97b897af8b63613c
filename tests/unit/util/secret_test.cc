#include "util/secret.h"

#include <gtest/gtest.h>

namespace mca::util {
namespace {

TEST(secret, names_that_say_password_secret_key_pem_token_or_credential_are_secret) {
  for (const char* name :
       {"KAFKA_SASL_PASSWORD", "sasl.oauthbearer.client.secret", "KAFKA_PROPERTY_SSL_KEY_PEM",
        "ssl.key.pem", "API_KEYS_FILE", "some_Token", "GOOGLE_CREDENTIALS", "ssl.key.location",
        "sasl.oauthbearer.config"}) {
    EXPECT_TRUE(is_secret_name(name)) << name;
  }
  for (const char* name : {"KAFKA_TOPIC", "SCHEMA_REGISTRY_URL", "sasl.username", "HOST"}) {
    EXPECT_FALSE(is_secret_name(name)) << name;
  }
}

TEST(secret, masks_the_user_info_of_every_url_in_a_value) {
  EXPECT_EQ(mask_url_userinfo("https://user:pw@host:8081/p?q=1"), "https://****@host:8081/p?q=1");
  EXPECT_EQ(mask_url_userinfo("https://user@host"), "https://****@host");
  EXPECT_EQ(mask_url_userinfo("http://a:b@h1,http://c:d@h2/x"), "http://****@h1,http://****@h2/x");
  EXPECT_EQ(mask_url_userinfo("https://host/path@not-userinfo"), "https://host/path@not-userinfo");
  EXPECT_EQ(mask_url_userinfo("plain text"), "plain text");
  EXPECT_EQ(mask_url_userinfo(""), "");
}

TEST(secret, printable_setting_masks_secret_names_and_keeps_unset_visible) {
  EXPECT_EQ(printable_setting("KAFKA_SASL_PASSWORD", "hunter2"), "****");
  EXPECT_EQ(printable_setting("KAFKA_SASL_PASSWORD", ""), "");
  EXPECT_EQ(printable_setting("SCHEMA_REGISTRY_URL", "https://u:p@r"), "https://****@r");
  EXPECT_EQ(printable_setting("KAFKA_TOPIC", "t"), "t");
}

}  // namespace
}  // namespace mca::util
