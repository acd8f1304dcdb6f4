std = "max"
max_line_length = 120
exclude_files = { "build/**", "build-*/**" }
files["tests/**"] = { std = "+busted" }
