/* Macro replacement rules, case by case: rescanning, hide sets, # and ##,
 * placemarkers, variadics (standard, GNU named, comma swallowing, __VA_OPT__).
 * Every macro defined here is chosen for expansion by the test. */

#define OBJ 1 + OBJ
#define x 3
#define f(a) f(x * (a))
#undef x
#define x 2
#define g f
#define z z[0]
#define h g(~
#define m(a) a(w)
#define w 0,1
#define t(a) a
#define p() int
#define q(x) x
#define r(x,y) x ## y
#define str(s) # s
#define xstr(s) str(s)
#define hash_hash # ## #
#define mkstr(a) # a
#define in_between(a) mkstr(a)
#define join(c, d) in_between(c hash_hash d)
#define showlist(...) puts(#__VA_ARGS__)
#define report(test, ...) ((test)?puts(#test): printf(__VA_ARGS__))
#define gnu_dbg(fmt, args...) printf(fmt, ## args)
#define c99_dbg(fmt, ...) printf(fmt, ##__VA_ARGS__)
#define named_plain(args...) call(args)
#define vaopt(a, ...) call(a __VA_OPT__(,) __VA_ARGS__)
#define paste3(a, b, c) a ## b ## c
#define empty()
#define defer(id) id empty()
#define AA BB
#define BB AA
#define LPAREN (
#define fcall(v) v + 1
#define apply(mac, a) mac(a)
#define cat(a, b) a ## b
#define xcat(a, b) cat(a, b)
#define here() __LINE__
#define fnl(v) v fnl
#define f2(a) a*g2
#define g2(a) f2(a)
#define nothing
#define ident_then_args(v) apply
#define block(name, ...) int name(void) { int r = 0; __VA_ARGS__; return r; }
#define stmts(a, b) if (a) { b; } else { a = b; }

int v1 = OBJ;
int v2 = f(y+1) + f(f(z)) % t(t(g)(0) + t)(1);
int v3 = g(x+(3,4)-w) | h 5) & m
	(f)^m(m);
p() i[q()] = { q(1), r(2,3), r(4,), r(,5), r(,) };
char c[2][6] = { str(hello), str() };
const char *s1 = xstr(OBJ);
const char *s2 = join(left, right);
const char *s3 = str("a\n" 'b' \n);
void lists(void)
{
	showlist(The first, second, and third items.);
	report(x>y, "x is %d but y is %d", x, y);
	gnu_dbg("no args");
	gnu_dbg("two args %d %d", 1, 2);
	c99_dbg("none");
	c99_dbg("some %d", (1, 2));
	named_plain();
	named_plain(a, (b, c), d);
	vaopt(1);
	vaopt(1, 2, 3);
}
int v4 = paste3(1, 2, 3) + paste3(, 4, ) + paste3(5, , ) paste3(, , );
int v5 = defer(fcall)(2);
int v6 = apply(fcall, 5) + xcat(fc, all)(6) + xcat(O, BJ);
int v7 = AA + BB;
int v8 = fcall LPAREN 1);
int v9 = here();
int v10 = fnl(1 +)(2);
int v11 = f2(2)(9);
int v12 = nothing 1 nothing;
int v13 = ident_then_args(0)(fcall, 7);
int v14 = t((1, 2)) + t(
	multi
	line
);
block(fn, r += 1; r *= 2)
void use(int a, int b)
{
	stmts(a, b)
}
