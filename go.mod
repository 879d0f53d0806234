module github.com/stdrealtime/realtime

go 1.25
