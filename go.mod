module github.com/example/dunning

go 1.26.8
