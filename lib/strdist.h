/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How far apart two short words are, for "did you mean" suggestions: a
 * mistyped command of vpcroutectl, an unknown key of vpcroute.conf.
 */
#ifndef VR_STRDIST_H
#define VR_STRDIST_H

/* Words of STRDIST_MAX bytes or more are "too far" from everything. */
#define STRDIST_MAX 64

/*
 * Edit distance (optimal string alignment: insertions, deletions,
 * substitutions and swaps of neighbours) between a and b; UINT_MAX when
 * either is STRDIST_MAX bytes long or longer.
 */
unsigned strdist(const char *a, const char *b);

/*
 * The word of the NULL-terminated list closest to word, if it is close
 * enough to be a likely typo (at most 1 edit, 2 for words of four to eight
 * letters, 3 for longer ones, and fewer edits than the word has letters);
 * the first of equals.
 * NULL when none is.
 */
const char *strdist_closest(const char *word, const char *const *words);

#endif
