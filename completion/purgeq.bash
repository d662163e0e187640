# bash completion for purgeq(1): commands and options (daemon/cli/cli_args.cpp).
# Installed as /usr/share/bash-completion/completions/purgeq; works without bash-completion too
# (`source completion/purgeq.bash`).

_purgeq() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  local commands="url tag host prefix everything status show wait failed retry-failed"
  local options="--socket --zone --wait --json -H --header --help --version"
  COMPREPLY=()

  # The value of an option that takes one.
  case $prev in
    --socket)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return 0
      ;;
    -H | --header)
      # The usual cache-key headers; the value is the user's.
      mapfile -t COMPREPLY < <(compgen -W "'CF-Device-Type: ' 'CF-IPCountry: ' 'Accept-Language: ' 'Origin: '" -- "$cur")
      return 0
      ;;
    --zone | --timeout)
      return 0
      ;;
  esac
  # --wait=SECONDS: COMP_WORDBREAKS splits it into --wait, =, SECONDS; nothing to offer.
  if [[ $prev == = || $cur == --wait=* ]]; then
    return 0
  fi

  # The command: the first word that is neither an option nor an option's value.
  local i word command=
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    case $word in
      --socket | --zone | -H | --header | --timeout) ((i++)) ;;
      -* | =) ;;
      *)
        [[ ${COMP_WORDS[i - 1]} == = ]] && continue   # the value of --wait=S
        command=$word
        break
        ;;
    esac
  done

  if [[ $cur == -* ]]; then
    case $command in
      wait) options="--socket --json --timeout --help" ;;
      url) ;;
      tag | host | prefix | everything) options="--socket --zone --wait --json --help" ;;
      status | show | failed | retry-failed) options="--socket --json --help" ;;
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
