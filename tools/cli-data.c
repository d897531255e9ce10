/* Data options shared by the subcommands: a UCR file, or WAV recordings
 * cut into windows.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream-cli.h"

#include <string.h>

gboolean
cli_parse_part (const char *s, SdSplitPart *part, GError **error)
{
  if (s == NULL || g_strcmp0 (s, "all") == 0)
    *part = SD_SPLIT_ALL;
  else if (g_strcmp0 (s, "train") == 0)
    *part = SD_SPLIT_TRAIN;
  else if (g_strcmp0 (s, "test") == 0)
    *part = SD_SPLIT_TEST;
  else {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "unknown part '%s' (all, train or test)", s);
    return FALSE;
  }
  return TRUE;
}

gboolean
cli_label_wavs (CliData *d)
{
  gboolean labelled = TRUE;
  for (int i = 0; d->wav && d->wav[i]; i++)
    if (strchr (d->wav[i], '=') == NULL) {
      char *l = g_strconcat (d->wav[i], "=?", NULL);
      g_free (d->wav[i]);
      d->wav[i] = l;
      labelled = FALSE;
    }
  return labelled;
}

SdDataset *
cli_load_data (const CliData *d, SdSplitPart part, const char *const *labels,
    GError **error)
{
  if (d->ucr != NULL && d->wav != NULL) {
    g_set_error_literal (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "give either --data or --wav, not both");
    return NULL;
  }
  if (d->ucr != NULL) {
    /* a recording given as --data: say how to give it */
    if (g_str_has_suffix (d->ucr, ".wav")
        || g_str_has_suffix (d->ucr, ".WAV")) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "%s is a WAV recording, not UCR series: give recordings as "
          "FILE=LABEL with --wav (and --window N --hop N; seqdream dream: "
          "--reference-wav)",
          d->ucr);
      return NULL;
    }
    return sd_dataset_load_ucr (d->ucr, labels, error);
  }
  if (d->wav == NULL || d->wav[0] == NULL) {
    g_set_error_literal (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "no data: give --data FILE.tsv or --wav FILE=LABEL");
    return NULL;
  }
  if (d->window < 1 || d->hop < 1) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "--wav needs --window and --hop of at least 1 sample (got %d and "
        "%d)",
        d->window, d->hop);
    return NULL;
  }
  guint n = g_strv_length (d->wav);
  g_autofree SdWavSource *src = g_new0 (SdWavSource, n);
  g_auto (GStrv) paths = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++) {
    /* PATH=LABEL; the last '=' separates, so paths may contain '='. */
    const char *eq = strrchr (d->wav[i], '=');
    if (eq == NULL || eq == d->wav[i] || eq[1] == '\0') {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "--wav '%s' must be FILE=LABEL", d->wav[i]);
      return NULL;
    }
    paths[i] = g_strndup (d->wav[i], eq - d->wav[i]);
    src[i].path = paths[i];
    src[i].label = eq + 1;
  }
  return sd_dataset_load_wav_windows (src, n, (guint) d->window, (guint) d->hop,
      part, d->train_fraction, labels, error);
}

void
cli_data_clear (CliData *d)
{
  g_clear_pointer (&d->ucr, g_free);
  g_clear_pointer (&d->wav, g_strfreev);
}
