// The seed's Gin User API, made runnable and complete enough for the
// benchmark: the same endpoints, JSON and token scheme as user-api, on SQLite
// in WAL mode with synchronous=FULL (-db FILE), or on PostgreSQL through
// lib/pq (-pg URL: database/sql's default pool, every statement prepared),
// argon2id m=19456 KiB, t=2, p=1.
//
// Built in GOPATH mode against Debian's packaged Gin 1.8, go-sqlite3 (which
// links the system libsqlite3), lib/pq and golang.org/x/crypto; see
// ../../README.md for why each choice is what a Go engineer would ship.
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/lib/pq"
	sqlite3 "github.com/mattn/go-sqlite3"
	"golang.org/x/crypto/argon2"
)

const (
	tokenTTL     = 3600 // seconds, user-api's default
	argonMemory  = 19456
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
	timeLayout   = "2006-01-02 15:04:05.000000" // SQLAlchemy's SQLite DATETIME
)

// UserCreate is the seed's model; the seed's password rule (min=8), the
// contract's caps.
type UserCreate struct {
	Email    string `json:"email" binding:"required,email,max=254"`
	Name     string `json:"name" binding:"required,min=1,max=100"`
	Password string `json:"password" binding:"required,min=8,max=128"`
}

// UserResponse is the contract's user resource.
type UserResponse struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	IsActive  bool      `json:"is_active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const userColumns = "id, email, name, role, is_active, created_at, updated_at"

func scanUser(row interface{ Scan(...any) error }, u *UserResponse) error {
	return row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.IsActive, &u.CreatedAt, &u.UpdatedAt)
}

type server struct {
	postgres    bool    // lib/pq, else go-sqlite3
	reads       *sql.DB // a pool of read connections
	writes      *sql.DB // one connection on SQLite (one writer at a time); the same pool as reads on PostgreSQL
	userByToken *sql.Stmt
	userByID    *sql.Stmt
	listUsers   *sql.Stmt
	credentials *sql.Stmt
	insertUser  *sql.Stmt
	insertToken *sql.Stmt
	hashSlots   chan struct{} // argon2 computations at once (memory bound)
	dummyOnce   sync.Once
	dummy       string // verified for unknown emails: same time as a known one
}

func openDB(path string, maxConns int) (*sql.DB, error) {
	// go-sqlite3 applies these PRAGMAs on every new connection.
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_busy_timeout=5000&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(0)
	return db, nil
}

func newServer(path string) (*server, error) {
	writes, err := openDB(path, 1)
	if err != nil {
		return nil, err
	}
	schema, err := os.ReadFile(schemaPath())
	if err == nil {
		if _, err := writes.Exec(string(schema)); err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
	}
	reads, err := openDB(path, 10)
	if err != nil {
		return nil, err
	}
	s := &server{reads: reads, writes: writes, hashSlots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	prepare := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.Prepare(q)
		return st
	}
	s.userByToken = prepare(reads, "SELECT u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.updated_at "+
		"FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND t.expires_at > ? AND u.is_active = 1")
	s.userByID = prepare(reads, "SELECT "+userColumns+" FROM users WHERE id = ?")
	s.listUsers = prepare(reads, "SELECT "+userColumns+" FROM users ORDER BY id LIMIT ? OFFSET ?")
	s.credentials = prepare(reads, "SELECT id, hashed_password, is_active FROM users WHERE email = ?")
	s.insertUser = prepare(writes, "INSERT INTO users (email, name, role, is_active, hashed_password, created_at, updated_at) "+
		"VALUES (?, ?, 'user', 1, ?, ?, ?) RETURNING "+userColumns)
	s.insertToken = prepare(writes, "INSERT INTO tokens (token_hash, user_id, expires_at, created_at) VALUES (?, ?, ?, ?)")
	if err != nil {
		return nil, err
	}
	return s, nil
}

// newPostgresServer opens one database/sql pool through lib/pq and
// prepares the same statements as on SQLite, in PostgreSQL's placeholders.
// With pool 0 the pool keeps database/sql's defaults, as most Go services
// ship it: no limit on open connections and 2 kept idle, so under more
// concurrent requests than that it opens and closes PostgreSQL connections
// all the time. With pool N it keeps N open (SetMaxOpenConns and
// SetMaxIdleConns N), as a tuned service does. The schema
// (../schema-postgres.sql) is made by the harness before the peer starts.
func newPostgresServer(url string, pool int) (*server, error) {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return nil, err
	}
	if pool > 0 {
		db.SetMaxOpenConns(pool)
		db.SetMaxIdleConns(pool)
	}
	if err := db.Ping(); err != nil {
		return nil, err
	}
	s := &server{postgres: true, reads: db, writes: db, hashSlots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	prepare := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.Prepare(q)
		return st
	}
	s.userByToken = prepare("SELECT u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.updated_at " +
		"FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2 AND u.is_active")
	s.userByID = prepare("SELECT " + userColumns + " FROM users WHERE id = $1")
	s.listUsers = prepare("SELECT " + userColumns + " FROM users ORDER BY id LIMIT $1 OFFSET $2")
	s.credentials = prepare("SELECT id, hashed_password, is_active FROM users WHERE email = $1")
	s.insertUser = prepare("INSERT INTO users (email, name, role, is_active, hashed_password, created_at, updated_at) " +
		"VALUES ($1, $2, 'user', TRUE, $3, $4, $5) RETURNING " + userColumns)
	s.insertToken = prepare("INSERT INTO tokens (token_hash, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)")
	if err != nil {
		return nil, err
	}
	return s, nil
}

// storedNow is now as the store keeps it: SQLAlchemy's SQLite DATETIME text
// on SQLite, a TIMESTAMP (naive, UTC) on PostgreSQL.
func (s *server) storedNow(t time.Time) any {
	t = t.UTC().Truncate(time.Second)
	if s.postgres {
		return t
	}
	return t.Format(timeLayout)
}

// isUniqueViolation: the email was taken between the check and the insert.
func isUniqueViolation(err error) bool {
	var sqliteErr sqlite3.Error
	if errors.As(err, &sqliteErr) && sqliteErr.ExtendedCode == sqlite3.ErrConstraintUnique {
		return true
	}
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23505"
}

func schemaPath() string {
	if p := os.Getenv("PEER_SCHEMA"); p != "" {
		return p
	}
	return "schema.sql"
}

// hashPassword returns an argon2id PHC string, as argon2-cffi and the
// RustCrypto argon2 crate write it.
func (s *server) hashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	s.hashSlots <- struct{}{}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	<-s.hashSlots
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// dummyHash is made at the first sign-in with an unknown email, not at
// start: it costs a hash's time and memory.
func (s *server) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy = s.hashPassword("a password no account has") })
	return s.dummy
}

// verifyPassword checks a password against a PHC string with the parameters
// the string names.
func (s *server) verifyPassword(phc, password string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	s.hashSlots <- struct{}{}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	<-s.hashSlots
	return subtle.ConstantTimeCompare(got, want) == 1
}

func detail(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"detail": msg})
}

// AuthMiddleware is the seed's, with the contract's bearer parsing and the
// token looked up by its SHA-256 on every request (revocation is immediate).
func (s *server) AuthMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		header := c.GetHeader("Authorization")
		scheme, token, found := strings.Cut(header, " ")
		if header == "" || !found || !strings.EqualFold(scheme, "bearer") {
			c.Header("WWW-Authenticate", `Bearer realm="user-api"`)
			detail(c, http.StatusUnauthorized, "Not authenticated")
			return
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
		var u UserResponse
		err := scanUser(s.userByToken.QueryRowContext(c, sum[:], time.Now().Unix()), &u)
		if err != nil {
			if !errors.Is(err, sql.ErrNoRows) {
				log.Printf("auth: %v", err)
				detail(c, http.StatusServiceUnavailable, "Database unavailable")
				return
			}
			c.Header("WWW-Authenticate", `Bearer error="invalid_token"`)
			detail(c, http.StatusUnauthorized, "Invalid token")
			return
		}
		c.Set("user", &u)
		c.Next()
	}
}

func currentUser(c *gin.Context) *UserResponse {
	return c.MustGet("user").(*UserResponse)
}

func (s *server) CreateUser(c *gin.Context) {
	var req UserCreate
	if err := c.ShouldBindJSON(&req); err != nil {
		detail(c, http.StatusUnprocessableEntity, err.Error())
		return
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	name := strings.TrimSpace(req.Name)
	if name == "" {
		detail(c, http.StatusUnprocessableEntity, "Name cannot be empty")
		return
	}
	var exists int64
	if err := s.credentials.QueryRowContext(c, email).Scan(&exists, new(string), new(bool)); err == nil {
		detail(c, http.StatusBadRequest, "Email already registered")
		return
	}
	hashed := s.hashPassword(req.Password)
	now := s.storedNow(time.Now())
	var u UserResponse
	err := scanUser(s.insertUser.QueryRowContext(c, email, name, hashed, now, now), &u)
	if isUniqueViolation(err) {
		detail(c, http.StatusBadRequest, "Email already registered")
		return
	}
	if err != nil {
		log.Printf("create user: %v", err)
		detail(c, http.StatusServiceUnavailable, "Failed to create user")
		return
	}
	c.Header("Location", "/users/"+strconv.FormatInt(u.ID, 10))
	c.JSON(http.StatusCreated, &u)
}

// Login is the OAuth2 password grant, form-encoded, as FastAPI's
// OAuth2PasswordRequestForm takes it.
func (s *server) Login(c *gin.Context) {
	email := strings.ToLower(strings.TrimSpace(c.PostForm("username")))
	password := c.PostForm("password")
	if gt := c.PostForm("grant_type"); gt != "" && gt != "password" {
		c.JSON(http.StatusBadRequest, gin.H{"error": "unsupported_grant_type"})
		return
	}
	var id int64
	var hashed string
	var active bool
	err := s.credentials.QueryRowContext(c, email).Scan(&id, &hashed, &active)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		log.Printf("login: %v", err)
		detail(c, http.StatusServiceUnavailable, "Database unavailable")
		return
	}
	if err != nil {
		hashed = s.dummyHash() // same time for an unknown email
	}
	if ok := s.verifyPassword(hashed, password); !ok || err != nil || !active {
		c.JSON(http.StatusBadRequest, gin.H{"error": "invalid_grant", "error_description": "Incorrect email or password"})
		return
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		panic(err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	now := time.Now()
	if _, err := s.insertToken.ExecContext(c, sum[:], id, now.Unix()+tokenTTL, s.storedNow(now)); err != nil {
		log.Printf("login: %v", err)
		detail(c, http.StatusServiceUnavailable, "Database unavailable")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"access_token": token, "token_type": "bearer", "expires_in": tokenTTL})
}

func (s *server) Me(c *gin.Context) {
	c.JSON(http.StatusOK, currentUser(c))
}

func (s *server) ListUsers(c *gin.Context) {
	if currentUser(c).Role != "admin" {
		detail(c, http.StatusForbidden, "Admins only")
		return
	}
	skip, err1 := strconv.Atoi(c.DefaultQuery("skip", "0"))
	limit, err2 := strconv.Atoi(c.DefaultQuery("limit", "10"))
	if err1 != nil || err2 != nil || skip < 0 || limit < 1 || limit > 100 {
		detail(c, http.StatusUnprocessableEntity, "skip must be >= 0 and limit 1..100")
		return
	}
	rows, err := s.listUsers.QueryContext(c, limit, skip)
	if err != nil {
		log.Printf("list users: %v", err)
		detail(c, http.StatusServiceUnavailable, "Failed to fetch users")
		return
	}
	defer rows.Close()
	users := make([]UserResponse, 0, limit)
	for rows.Next() {
		var u UserResponse
		if err := scanUser(rows, &u); err != nil {
			log.Printf("list users: %v", err)
			detail(c, http.StatusServiceUnavailable, "Failed to fetch users")
			return
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		log.Printf("list users: %v", err)
		detail(c, http.StatusServiceUnavailable, "Failed to fetch users")
		return
	}
	c.JSON(http.StatusOK, users)
}

func (s *server) GetUser(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		detail(c, http.StatusUnprocessableEntity, "Invalid user ID")
		return
	}
	me := currentUser(c)
	if me.ID != id && me.Role != "admin" {
		detail(c, http.StatusNotFound, "User not found")
		return
	}
	var u UserResponse
	err = scanUser(s.userByID.QueryRowContext(c, id), &u)
	if errors.Is(err, sql.ErrNoRows) {
		detail(c, http.StatusNotFound, "User not found")
		return
	}
	if err != nil {
		log.Printf("get user: %v", err)
		detail(c, http.StatusServiceUnavailable, "Database unavailable")
		return
	}
	c.JSON(http.StatusOK, &u)
}

func main() {
	dbPath := flag.String("db", "gin.db", "SQLite database file")
	pgURL := flag.String("pg", "", "PostgreSQL URL (lib/pq); when set, -db is not used")
	pgPool := flag.Int("pg-pool", 0, "PostgreSQL connections kept open (0: database/sql's defaults)")
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	version := flag.Bool("sqlite-version", false, "print the SQLite version this binary links and exit")
	flag.Parse()
	if *version {
		v, _, _ := sqlite3.Version()
		fmt.Println(v)
		return
	}
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode)
	}
	var s *server
	var err error
	if *pgURL != "" {
		s, err = newPostgresServer(*pgURL, *pgPool)
	} else {
		s, err = newServer(*dbPath)
	}
	if err != nil {
		log.Fatalf("cannot open the database: %v", err)
	}

	// gin.Default() is Logger + Recovery; the logger skips /health, which
	// load balancers poll (as user-api does not log it either).
	router := gin.New()
	router.Use(gin.LoggerWithConfig(gin.LoggerConfig{SkipPaths: []string{"/health"}}), gin.Recovery())

	router.POST("/users", s.CreateUser)
	router.POST("/token", s.Login)
	protected := router.Group("/")
	protected.Use(s.AuthMiddleware())
	{
		protected.GET("/users", s.ListUsers)
		protected.GET("/users/me", s.Me)
		protected.GET("/users/:id", s.GetUser)
	}
	router.GET("/health", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "healthy"})
	})

	log.Printf("gin peer listening on http://%s", *listen)
	if err := router.Run(*listen); err != nil {
		log.Fatal(err)
	}
}
