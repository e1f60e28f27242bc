module kocache.dev/layertool

go 1.21
