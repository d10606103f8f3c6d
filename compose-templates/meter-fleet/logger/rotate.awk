# The only writer of the log file: appends every line from the FIFO and rotates by size,
# FILE -> FILE.1 -> ... -> FILE.keep, the oldest falling off.
function rotate(i) {
  close(file)
  if (keep == 0) {
    system("rm -f " file)
    return
  }
  for (i = keep - 1; i >= 1; i--) system("[ ! -e " file "." i " ] || mv -f " file "." i " " file "." (i + 1))
  system("mv -f " file " " file ".1")
}
{
  print >> file
  fflush(file)
  if (echo == "yes") {
    print
    fflush()
  }
  size += length($0) + 1
  if (size >= max) {
    rotate()
    size = 0
  }
}
