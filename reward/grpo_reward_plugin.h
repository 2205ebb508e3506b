/* The C ABI of a grpo reward plugin (docs/rewards.md, "C++ plugins").
 *
 * A plugin is a shared library that exports the three functions declared at
 * the end of this header. `grpo reward-server --plugin=libmy_reward.so`
 * loads it and serves its component by name, like a built-in: a sample asks
 * for it with {name: "my_reward", weight: 1, params: {...}}.
 *
 * The ABI is C so that a plugin may be built by another compiler or
 * standard library than the server; nothing here allocates across the
 * boundary: the host owns every input, the plugin writes into results the
 * host allocated. A plugin built for another GRPO_REWARD_PLUGIN_ABI_VERSION
 * is refused at load with an error naming the file.
 *
 * Threading: the host may call grpo_reward_plugin_score from several
 * threads at once; it must be thread-safe (or keep no state). In isolated
 * mode (--plugin-isolated) the plugin runs in a helper process and is
 * called from one thread at a time; a crash there yields "error" results
 * and the helper is restarted.
 */
#ifndef GRPO_REWARD_PLUGIN_H_
#define GRPO_REWARD_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GRPO_REWARD_PLUGIN_ABI_VERSION 1u

/* Bytes of each text field of a result, the terminating NUL included;
 * longer text is cut. */
#define GRPO_REWARD_RESULT_TEXT_BYTES 256

/* A UTF-8 string, not NUL-terminated. */
typedef struct grpo_reward_text {
  const char* data;
  size_t size;
} grpo_reward_text;

/* One parameter of a sample, NUL-terminated text. */
typedef struct grpo_reward_param {
  const char* name;
  const char* value;
} grpo_reward_param;

/* One parameter the plugin takes. `type` is one of "bool", "int32",
 * "int64", "double", "string", "enum A|B|C"; the host checks each sample's
 * value against it and answers a bad one "invalid_argument" without calling
 * the plugin. `default_value` is text in that type. */
typedef struct grpo_reward_param_info {
  const char* name;
  const char* type;
  const char* default_value;
} grpo_reward_param_info;

typedef struct grpo_reward_plugin_info {
  const char* name;        /* the component name samples use; unique in the server */
  const char* version;     /* the plugin's own version, shown by ListRewards */
  const char* description;
  /* The reference the plugin reads: "none", "math_answer" (the gold answer
   * text) or "json" (free-form text, usually JSON). A sample without it is
   * answered "invalid_argument". */
  const char* reference;
  const grpo_reward_param_info* params;
  size_t num_params;
} grpo_reward_plugin_info;

typedef struct grpo_reward_sample {
  grpo_reward_text id;
  grpo_reward_text prompt;
  grpo_reward_text completion;
  grpo_reward_text reference; /* math_answer or json text; empty for "none" */
  /* Every declared parameter, in name order: the sample's value, else the
   * default. */
  const grpo_reward_param* params;
  size_t num_params;
} grpo_reward_sample;

/* The statuses of a result (the service's "ok", "no_answer",
 * "unparseable_gold", "timeout", "error"). */
enum {
  GRPO_REWARD_STATUS_OK = 0,
  GRPO_REWARD_STATUS_NO_ANSWER = 1,
  GRPO_REWARD_STATUS_UNPARSEABLE_GOLD = 2,
  GRPO_REWARD_STATUS_TIMEOUT = 3,
  GRPO_REWARD_STATUS_ERROR = 4
};

typedef struct grpo_reward_result {
  double value;   /* the reward; must be finite; counted only when status is OK */
  int32_t status; /* GRPO_REWARD_STATUS_* */
  char reason[GRPO_REWARD_RESULT_TEXT_BYTES];    /* why, NUL-terminated */
  char extracted[GRPO_REWARD_RESULT_TEXT_BYTES]; /* what was read, NUL-terminated */
} grpo_reward_result;

#if defined(__GNUC__)
#define GRPO_REWARD_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define GRPO_REWARD_PLUGIN_EXPORT
#endif

/* --- What a plugin exports (all three are required) --- */

/* Returns GRPO_REWARD_PLUGIN_ABI_VERSION as the plugin was built with it. */
GRPO_REWARD_PLUGIN_EXPORT uint32_t grpo_reward_plugin_abi_version(void);

/* The plugin's description; the pointer and everything it points to must
 * stay valid until the library is unloaded. */
GRPO_REWARD_PLUGIN_EXPORT const grpo_reward_plugin_info* grpo_reward_plugin_get_info(void);

/* Scores `count` samples (count >= 1) into results[0..count). The host
 * fills each result with status ERROR and reason "not scored by the plugin"
 * first. The service calls it with one sample at a time from its worker
 * threads; other hosts may pass batches. Must not throw. */
GRPO_REWARD_PLUGIN_EXPORT void grpo_reward_plugin_score(const grpo_reward_sample* samples,
                                                        size_t count,
                                                        grpo_reward_result* results);

#ifdef __cplusplus
}
#endif

#endif /* GRPO_REWARD_PLUGIN_H_ */
