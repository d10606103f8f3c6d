# One client's lines, each "[<PRI>][TAG: ]MESSAGE" (the content of an RFC 3164 syslog line), written as
# "TIME TAG LEVEL: MESSAGE" with the time of arrival.
BEGIN {
  split("emerg alert crit err warning notice info debug", severity, " ")
}
{
  line = $0
  sub(/\r$/, "", line)
  level = "info"
  if (match(line, /^<[0-9]+>/)) {
    level = severity[(substr(line, 2, RLENGTH - 2) % 8) + 1]
    line = substr(line, RLENGTH + 1)
  }
  tag = "-"
  if (match(line, /^[A-Za-z0-9_.\/-]+(\[[0-9]+\])?: /)) {
    tag = substr(line, 1, RLENGTH - 2)
    line = substr(line, RLENGTH + 1)
  }
  # Below PIPE_BUF (4096) a write to the FIFO is atomic: lines from concurrent clients never mix.
  if (length(line) > 3800) line = substr(line, 1, 3800) "...[cut]"
  printf "%s %s %s: %s\n", strftime("%Y-%m-%dT%H:%M:%S%z"), tag, level, line
  fflush()
}
