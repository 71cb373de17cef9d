module netipc.invalid/xtask/goapi

go 1.23
