module netcheck.local/e2e/echo

go 1.22
