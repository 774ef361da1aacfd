# git cannot store a directory named .git: make it here.
mkdir -p tests/.git
printf "summary: t\n" > tests/.git/task.yaml
