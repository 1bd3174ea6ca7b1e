# bash completion for ironcore-backup
#
# Asks the binary itself: `ironcore-backup <command...> --help` lists subcommands, options and
# fixed argument values (e.g. the roles of `run`), so new commands complete without a change
# here. Each help text is read once per shell and cached.

declare -gA _ironcore_backup_cache=()

# Sets _ironcore_backup_desc to one line per completion source of a command path: "cmd NAME",
# "opt --flag", "val --option-that-takes-a-value" or "arg VALUE" (a fixed value of a positional
# argument). A variable, not output: a $(...) subshell would lose the cache.
_ironcore_backup_describe() {
    local bin=$1
    shift
    local key="$bin $*"
    if [[ -z ${_ironcore_backup_cache[$key]+set} ]]; then
        _ironcore_backup_cache[$key]=$(NO_COLOR=1 "$bin" "$@" --help 2>/dev/null | awk '
            /^(USAGE|COMMANDS|ARGUMENTS|OPTIONS)/ { section = $1; next }
            /^[^ ]/ { section = "" }
            section == "COMMANDS" && NF > 0 { print "cmd " $1 }
            section == "ARGUMENTS" && NF > 1 && $2 ~ /\|/ {
                n = split($2, values, "|"); for (i = 1; i <= n; i++) print "arg " values[i]
            }
            section == "OPTIONS" && NF > 0 {
                # The left column holds "-q, --quiet" or "--config=<config>".
                left = $0; sub(/^ +/, "", left); sub(/  .*/, "", left)
                n = split(left, names, /, */)
                for (i = 1; i <= n; i++) {
                    name = names[i]; takes = (name ~ /=</); sub(/=.*/, "", name)
                    print (takes ? "val " : "opt ") name
                }
            }')
    fi
    _ironcore_backup_desc=${_ironcore_backup_cache[$key]}
}

_ironcore_backup() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local bin=${COMP_WORDS[0]}
    local -a path=()
    local i word desc skip_next=0

    # Walk the words before the cursor: subcommand names extend the path; option values
    # (`--config FILE`, `--config=FILE`) and positional arguments do not.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((skip_next)); then skip_next=0; continue; fi
        if [[ $word == "=" ]]; then skip_next=1; continue; fi
        _ironcore_backup_describe "$bin" "${path[@]}"
        desc=$_ironcore_backup_desc
        if [[ $word == -* ]]; then
            grep -qxF "val $word" <<<"$desc" && skip_next=1
        elif grep -qxF "cmd $word" <<<"$desc"; then
            path+=("$word")
        fi
    done
    _ironcore_backup_describe "$bin" "${path[@]}"
    desc=$_ironcore_backup_desc

    # The value of an option: a file, or a folder for options about folders.
    local opt=""
    if [[ $cur == "=" ]]; then cur=""; opt=$prev; elif [[ $prev == "=" ]]; then opt=${COMP_WORDS[COMP_CWORD - 2]}; elif [[ $prev == -* ]] && grep -qxF "val $prev" <<<"$desc"; then opt=$prev; fi
    if [[ -n $opt ]]; then
        if [[ $opt == *dir* ]]; then
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
        return 0
    fi

    local words
    if [[ $cur == -* ]]; then
        words=$(awk '$1 == "opt" || $1 == "val" { print $2 }' <<<"$desc")
    else
        words=$(awk '$1 == "cmd" || $1 == "arg" { print $2 }' <<<"$desc")
    fi
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

complete -F _ironcore_backup ironcore-backup
