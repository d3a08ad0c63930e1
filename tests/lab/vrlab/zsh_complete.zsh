# SPDX-License-Identifier: GPL-2.0-or-later
# What zsh's completion system offers for a command line, one candidate a line:
#   zsh -f zsh_complete.zsh FPATH_DIR PATH_DIR 'vpcroutectl st'
# An interactive zsh on a pseudo-terminal (zpty) with compinit and FPATH_DIR first in
# $fpath, PATH_DIR first in $PATH; compadd is wrapped to print what it is given.
zmodload zsh/zpty || exit 2
zpty z zsh -f -i
zpty -w z "PROMPT='' RPROMPT='' PS2=''"
zpty -w z "fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "export PATH=${(q)2}:\$PATH"
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a hits; builtin compadd -A hits "$@"
  local h; for h in $hits; do print -r -- "<<$h>>"; done
}'
# the markers are quoted so that the echo of this line does not match them
zpty -w z "comptest() { print -r -- '<<'START'>>'; zle complete-word; print -r -- '<<'END'>>'; zle kill-whole-line; }; zle -N comptest; bindkey '^T' comptest"
zpty -n -w z "$3"$'\x14'
local out
zpty -r z out '*<<END>>*' || exit 1
zpty -d z
out=${out//$'\r'/}
out=${out#*<<START>>$'\n'}
for line in ${(f)out}; do
  if [[ $line == '<<'*'>>' && $line != '<<END>>' ]]; then
    print -r -- ${${line#<<}%>>}
  fi
done
exit 0
