# bash completion for purgeq(1): commands and options (daemon/cli/cli_args.cpp).
# Installed as /usr/share/bash-completion/completions/purgeq; works without bash-completion too
# (`source completion/purgeq.bash`).

# A value `--wait S` takes as its limit: what purgeq reads as seconds (90, 90s, 5m, 1h).
_purgeq_is_duration() {
  [[ $1 =~ ^[0-9]+[smh]?$ ]]
}

_purgeq() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev= prev2=
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  ((COMP_CWORD > 1)) && prev2=${COMP_WORDS[COMP_CWORD - 2]}
  local commands="url tag host prefix everything status show wait failed retry-failed dashboard"
  COMPREPLY=()

  # --opt=VALUE: COMP_WORDBREAKS splits it into --opt, =, VALUE. Complete VALUE as the value of
  # --opt: the word before `=` is the option, and an empty value follows a bare `=`.
  local opt=$prev
  if [[ $cur == = ]]; then
    cur=
  elif [[ $prev == = ]]; then
    opt=$prev2
  fi

  # The value of an option that takes one.
  case $opt in
    --socket)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return 0
      ;;
    -H | --header)
      # The usual cache-key headers, up to their value (the user's). One word each: escaped
      # (CF-Device-Type:\ ), or as they are after a quote the user opened.
      local name names=("CF-Device-Type: " "CF-IPCountry: " "Accept-Language: " "Origin: ")
      local typed=${cur#[\'\"]}
      for name in "${names[@]}"; do
        [[ $name == "$typed"* ]] || continue
        if [[ $typed == "$cur" ]]; then
          COMPREPLY+=("$(printf '%q' "$name")")
        else
          COMPREPLY+=("$name")
        fi
      done
      compopt -o nospace 2>/dev/null
      return 0
      ;;
    --zone | --timeout)
      # A zone name or id, a duration: nothing to guess.
      return 0
      ;;
    --priority)
      mapfile -t COMPREPLY < <(compgen -W "high normal bulk" -- "$cur")
      return 0
      ;;
  esac
  # --wait=S: a duration, nothing to offer. (A bare --wait is a flag: after it comes the
  # command or an item, or optionally a duration as its own word.)
  if [[ $opt == --wait && ($prev == = || ${COMP_WORDS[COMP_CWORD]} == =) ]]; then
    return 0
  fi

  # The command: the first word that is neither an option nor an option's value.
  local i word command=
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    case $word in
      --socket | --zone | --priority | -H | --header | --timeout) ((i++)) ;;
      --wait)
        # `--wait 120`: a following word that reads as seconds is the limit, not the command.
        if ((i + 1 < COMP_CWORD)) && _purgeq_is_duration "${COMP_WORDS[i + 1]}"; then
          ((i++))
        fi
        ;;
      -* | =) ;;
      *)
        [[ ${COMP_WORDS[i - 1]} == = ]] && continue   # the value of --opt=VALUE
        command=$word
        break
        ;;
    esac
  done

  if [[ $cur == -* ]]; then
    local options
    case $command in
      '') options="--socket --zone --priority --wait --json -H --header --variants -h --help --version" ;;
      url) options="--socket --zone --priority --wait --json -H --header --variants -h --help" ;;
      tag | host | prefix) options="--socket --zone --priority --wait --json -h --help" ;;
      everything) options="--socket --zone --priority --wait --json --yes -y -h --help" ;;
      wait) options="--socket --json --timeout -h --help" ;;
      status | show | failed | retry-failed) options="--socket --json -h --help" ;;
      dashboard) options="--socket --port -h --help" ;;
      *) options="-h --help" ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
    return 0
  fi
  if [[ -z $command ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
  fi
  # Items (URLs, tags, hosts, prefixes, `-` for stdin) and intent ids: nothing to guess.
  return 0
}
complete -F _purgeq purgeq
