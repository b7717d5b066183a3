# Warnings for our own targets only (imported torch/Qt headers are system includes).
function(repnas_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-maybe-uninitialized)
endfunction()
