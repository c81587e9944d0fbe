# Warnings are errors in our own code (not in third-party headers, which come in as SYSTEM).
function(autodiscd_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Wunused -Woverloaded-virtual -Wnull-dereference -Wformat=2 -Werror)
endfunction()
