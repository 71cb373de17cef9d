module github.com/netdata/netipc/go

go 1.25
