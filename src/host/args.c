#include "args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CLOCK_SPEED 200.0

/* Value of an option given as "-eCODE" or "-e CODE"; NULL when missing. As lua5.4: a separate
 * value that starts with '-' is another option, not the value ("-e -x" is a usage error). */
static const char *short_value(int argc, char **argv, int *i)
{
  if (argv[*i][2] != '\0')
    return argv[*i] + 2;
  if (*i + 1 < argc && argv[*i + 1][0] != '-')
    return argv[++*i];
  return NULL;
}

/* Value of "--name=V" or "--name V"; sets *matched when argv[*i] is that option. */
static const char *long_value(int argc, char **argv, int *i, const char *name, int *matched)
{
  size_t n = strlen(name);
  const char *a = argv[*i];
  *matched = 0;
  if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '='))
    return NULL;
  *matched = 1;
  if (a[n] == '=')
    return a + n + 1;
  if (*i + 1 < argc)
    return argv[++*i];
  return NULL;
}

int host_args_parse(int argc, char **argv, struct host_args *a, char *err, size_t errlen)
{
  memset(a, 0, sizeof *a);
  a->clock_speed = DEFAULT_CLOCK_SPEED;
  a->actions = calloc((size_t)(argc > 0 ? argc : 1), sizeof *a->actions);
  if (a->actions == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }

  int i;
  for (i = 1; i < argc; i++) {
    const char *s = argv[i];
    int matched;
    if (s[0] != '-' || strcmp(s, "-") == 0)
      break;  /* the script */
    if (strcmp(s, "--") == 0) {
      i++;
      break;
    }
    if (s[1] == 'e' || s[1] == 'l') {
      const char *v = short_value(argc, argv, &i);
      if (v == NULL) {
        snprintf(err, errlen, "'-%c' needs an argument", s[1]);
        return -1;
      }
      a->actions[a->nactions].kind = s[1];
      a->actions[a->nactions++].value = v;
    } else if (strcmp(s, "-i") == 0) {
      a->interactive = 1;
      a->version = 1; /* lua5.4: -i shows the banner */
    } else if (strcmp(s, "-E") == 0) {
      a->no_env = 1;
    } else if (strcmp(s, "-W") == 0) {
      a->warnings = 1;
    } else if (strcmp(s, "-v") == 0 || strcmp(s, "--version") == 0) {
      a->version = 1;
    } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
      a->help = 1;
    } else if (strcmp(s, "--sandbox") == 0) {
      a->sandbox = 1;
    } else if (strcmp(s, "--sandbox-realism") == 0) {
      a->sandbox = 1;
      a->realism = 1;
    } else {
      const char *v = long_value(argc, argv, &i, "--sandbox-state", &matched);
      if (matched) {
        if (v == NULL || *v == '\0') {
          snprintf(err, errlen, "--sandbox-state needs a file path");
          return -1;
        }
        a->sandbox_state = v;
        continue;
      }
      v = long_value(argc, argv, &i, "--sandbox-clock-speed", &matched);
      if (!matched) {
        snprintf(err, errlen, "unknown option '%s'", s);
        return -1;
      }
      char *end;
      double x = v ? strtod(v, &end) : 0;
      if (v == NULL || *v == '\0' || *end != '\0' || !(x > 0) || x > 1e9) {
        snprintf(err, errlen, "--sandbox-clock-speed needs a number > 0");
        return -1;
      }
      a->clock_speed = x;
    }
  }
  a->script = i < argc ? i : 0;
  return 0;
}

void host_args_free(struct host_args *a)
{
  free(a->actions);
  a->actions = NULL;
}
