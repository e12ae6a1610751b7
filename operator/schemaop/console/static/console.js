var x,Ze,Wt,I,Pe,ve,Ge,he,Xe,Re,Ce,qt,ae=Symbol.for("pv"),be={},ye=[],Ot=/^m(i|n|o|s|text|space)$/,Ae=Array.isArray,Ne=ye.slice,X=Object.assign;function G(e){e&&e.parentNode&&e.remove()}function et(e,t,n){var s,a,o,r={},i=arguments.length;for(o in t)o=="key"?s=t[o]:o=="ref"&&typeof e!="function"?a=t[o]:r[o]=t[o];return i>2&&(r.children=i>3?Ne.call(arguments,2):n),oe(e,r,s,a,null)}function oe(e,t,n,s,a){var o={type:e,props:t,key:n,ref:s,__k:null,__:null,__b:0,__e:null,__c:null,constructor:ae,__v:a||++Ze,__i:-1,__u:0};return!a&&x.vnode&&x.vnode(o),o}function we(e){return e.children}function me(e,t){this.props=e,this.context=t,this.__g=0}function Q(e,t){if(t==null)return e.__&&Q(e.__,e.__i+1);for(var n;t<e.__k.length;t++)if((n=e.__k[t])&&n.__e)return n.__e;return typeof e.type!="function"||e.props.__P?null:Q(e)}function Ft(e){var t,n=e.__v,s=n.__e,a=[],o=[],r=e.__P;r&&((t=X({constructor:ae},n)).__v=n.__v+1,x.vnode&&x.vnode(t),De(r,t,n,e.__n,r.namespaceURI,32&n.__u?[s]:null,a,s||Q(n),32&n.__u,o),t.__v=n.__v,t.__.__k[t.__i]=t,rt(a,t,o),n.__=n.__e=null,t.__e!=s&&tt(t))}function tt(e){if((e=e.__)&&e.__c&&!e.props.__P)return e.__e=null,e.__k.some(function(t){return t&&(e.__e=t.__e)}),tt(e)}function ze(e){(8&e.__g||(e.__g|=8,I.push(e),ve++))&&Pe==x.debounceRendering||((Pe=x.debounceRendering)||queueMicrotask)(nt)}function nt(){try{for(var e,t=1;I.length;)I.length>t&&I.sort(Ge),e=I.shift(),t=I.length,8&e.__g&&Ft(e)}finally{(ve=I.length)&&(Pe||queueMicrotask)(nt)}}function st(e,t,n,s,a,o,r,i,d,_,u){var h,$,c,f,S,g,y=s.__k||ye,p=t.length;for(d=Ut(n,t,y,d,p),h=0;h<p;h++)(c=n.__k[h])!=null&&($=~c.__i&&y[c.__i]||be,c.__i=h,g=De(e,c,$,a,o,r,i,d,_,u),f=c.__e,($.ref!=c.ref||8&$.__u)&&($.ref&&Me($.ref,null,c,$),c.ref&&u.push(c.ref,c.__c||f,c)),S=S||f,4&c.__u?(d=ot(c,d,e,!$.__v),$.__e&&($.__e=null)):typeof c.type=="function"&&g!==void 0?d=g:f&&(d=f.nextSibling),c.__u&=-21);return n.__e=S,d}function Ut(e,t,n,s,a){var o,r,i,d,_,u,h,$,c,f=n.length,S=f,g=0,y=0,p=e.__k=Array(a);for(o=0;o<a;o++)(r=t[o])!=null&&typeof r!="boolean"&&typeof r!="function"?(typeof r!="object"||r.constructor===String?r=p[o]=oe(null,r):Ae(r)?r=p[o]=oe(we,{children:r}):r.constructor===ae&&r.__b?r=p[o]=oe(r.type,r.props,r.key,r.ref,r.__v):p[o]=r,d=o+g,r.__=e,r.__b=e.__b+1,i=null,~(_=r.__i=It(r,n,d,S))&&(S--,(i=n[_])&&(i.__u|=2)),i&&i.__v?(r.__u|=16,_==d-1?g--:_==d+1?g++:_!=d&&(_>d?g--:g++,y=1)):(~_||(a>f?g--:a<f&&g++),typeof r.type!="function"&&(r.__u|=4))):p[o]=null;if(y){for(u=[],h=[],o=0;o<a;o++)if((r=p[o])&&16&r.__u){for(g=0,$=u.length;g<$;)u[c=g+$>>1]<r.__i?g=c+1:$=c;u[g]=r.__i,h[o]=g+1}for(g=u.length;o--;)h[o]&&(h[o]==g?g--:p[o].__u|=4)}if(S)for(o=0;o<f;o++)!(i=n[o])||2&i.__u||(i.__e==s&&(s=Q(i)),Ve(i,i));return s}function ot(e,t,n,s){var a,o,r,i;if(typeof e.type=="function"){if(e.props.__P)return t;if(a=e.__k)for(o=0;o<a.length;o++)a[o]&&(a[o].__=e,t=ot(a[o],t,n,!1));return t}for(t&&!t.parentNode&&(t=Q(e))&&!t.parentNode&&(t=null),r=e.__e,i=t;i&&i.nodeType==8;)i=i.nextSibling;for(r!=i&&(!s&&n.moveBefore&&r.parentNode?n.moveBefore(r,t):n.insertBefore(r,t||null)),t=r;(t=t&&t.nextSibling)&&t.nodeType==8&&!t.data.startsWith("$s"););return t}function It(e,t,n,s){var a,o=e.key,r=e.type,i=t[n],d=i&&!(2&i.__u);if(i===null&&o==null||d&&o==i.key&&r==i.type)return n;if(s>(d?1:0)){for(a=n-1;a>=0;a--)if((i=t[a])&&!(2&i.__u)&&o==i.key&&r==i.type)return a;for(a=n+1;a<t.length;a++)if((i=t[a])&&!(2&i.__u)&&o==i.key&&r==i.type)return a}return-1}function Ye(e,t,n){n==null&&(n=""),t[0]=="-"?e.setProperty(t,n):e[t]=n}function fe(e,t,n,s,a){var o,r;if(t=="style")if(typeof n=="string")e.style.cssText=n;else{if(typeof s=="string"&&(e.style.cssText=s=""),s)for(t in s)n&&t in n||Ye(e.style,t);if(n)for(t in n)s&&n[t]==s[t]||Ye(e.style,t,n[t])}else if(t[0]=="o"&&t[1]=="n")typeof n!="function"&&(n=null),typeof s!="function"&&(s=null),(e.__e||(e.__e={}))[t]=n,n&&s||(r=Ce[t]||(Ce[t]=Qt(t)),(e.__a||(e.__a={}))[t]=Re,o=t!=(t=t.replace(Xe,"$1")),(t=t.slice(2))[0]<"a"&&(t=t.toLowerCase()),n?e.addEventListener(t,r,o):e.removeEventListener(t,r,o));else{if(a=="http://www.w3.org/2000/svg")t=t.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(t!="width"&&t!="height"&&t!="href"&&t!="list"&&t!="form"&&t!="tabIndex"&&t!="download"&&t!="rowSpan"&&t!="colSpan"&&t!="role"&&t!="popover"&&t in e)try{return void(e[t]=n??"")}catch{}if(typeof n=="function")return;n==null||n===!1&&t[4]!="-"?e.removeAttribute(t):e.setAttribute(t,t=="popover"&&n==1?"":n)}}function Qt(e){return function(t){var n=this.__e;if(n){if(n=n[e],t[he]==null)t[he]=Re++;else if(t[he]<this.__a[e])return;return n(x.event?x.event(t):t)}}}function De(e,t,n,s,a,o,r,i,d,_){var u,h,$,c,f,S,g,y,p,m,v,B,Y,Z,q,$e,H,E,A=t.type;if(t.constructor!==ae)return null;128&n.__u&&(d=32&n.__u,u=n.__c.__z)&&(t.__u|=d,h=o=[],u.nodeType==8?i=ge(u,o):o.push(u),i=o[0]||i),(u=x.__b)&&u(t);e:if(typeof A=="function"){$=r.length;try{if(y=t.props,p=(u=A.prototype)&&u.render,m=(u=A.contextType)&&s[u.__c],v=u?m?m.props.value:u.__:s,(c=n.__c)?(t.__c=c,2&c.__g&&(c.__g|=1)):(p?t.__c=c=new A(y,v):(t.__c=c=new me(y,v),c.constructor=A,c.render=Kt),m&&m.sub(c),c.state||(c.state={}),c.__n=s,c.__g|=8,c.__h=[],c.__k=[]),p&&(c.__s||(c.__s=c.state),A.getDerivedStateFromProps&&(c.__s==c.state&&(c.__s=X({},c.__s)),X(c.__s,A.getDerivedStateFromProps(y,c.__s)))),f=c.props,S=c.state,c.__v=t,n.__c){if(y!==f&&p&&!A.getDerivedStateFromProps&&c.componentWillReceiveProps&&c.componentWillReceiveProps(y,v),t.__v==n.__v&&!(8&c.__g)||!(4&c.__g)&&c.shouldComponentUpdate&&c.shouldComponentUpdate(y,c.__s,v)===!1){t.__v!=n.__v&&(c.props=y,c.state=c.__s,c.__g&=-9),t.__e=n.__e,t.__k=n.__k,t.__k.some(function(N){N&&(N.__=t)}),ye.push.apply(c.__h,c.__k),c.__k=[],c.__h.length&&r.push(c),i=Q(n);break e}c.componentWillUpdate&&c.componentWillUpdate(y,c.__s,v),p&&c.componentDidUpdate&&c.__h.push(function(){c.componentDidUpdate(f,S,g)})}else p&&!A.getDerivedStateFromProps&&c.componentWillMount&&c.componentWillMount(),p&&c.componentDidMount&&c.__h.push(c.componentDidMount);c.context=v,c.props=y,c.__P=e,c.__g&=-5,B=x.__r,Y=p?25:0;do c.__g&=-9,B&&B(t),u=c.render(c.props,c.state=c.__s,c.context);while(8&c.__g&&++Y<25);p&&(ye.push.apply(c.__h,c.__k),c.__k=[]),c.state=c.__s,c.getChildContext&&(s=X({},s,c.getChildContext())),p&&n.__c&&c.getSnapshotBeforeUpdate&&(g=c.getSnapshotBeforeUpdate(f,S)),Z=u&&u.type===we&&u.key==null?u.props.children:u,y.__P&&(u=i,a=(e=y.__P).namespaceURI,d=o=null,n.props&&n.props.__P!=e&&(n.__k.some(function(N){N&&Ve(N,N)}),n.__k=null),i=n.__k?Q(n,0):null),i=st(e,Ae(Z)?Z:[Z],t,n,s,a,o,r,i,d,_),y.__P&&(t.__e=null,i=u),t.__u&=-161,h&&h.some(G),c.__h.length&&r.push(c),1&c.__g&&(c.__g&=-4)}catch(N){if(r.length=$,t.__v=null,d||o)if(N&&N.then){if(t.__u|=128|d,o){for(~(H=o.indexOf(i||void 0))||(H=o.length);(E=o[H-1])&&E.nodeType==8;)H--;for(;H<o.length;H++)if(E=o[H])if(o[H]=null,q){if(E==$e)break}else{if(E.nodeType!=8)break;E.data.startsWith("$s")&&($e=ge(q=E))}}if(!q){for(;i&&i.nodeType==8&&i.nextSibling;)i=i.nextSibling;q=i}(u=ge(q=t.__c.__z||(t.__c.__z=q)))?(t.__e=q,i=u):t.__e=i,i=i&&i.nextSibling}else o&&o.some(G);else t.__e=n.__e;t.__k||(t.__k=n.__k||[]),N&&N.then||at(t),x.__e(N,t,n)}}else i=t.__e=Jt(n.__e,t,n,s,a,o,r,d,_,e);return(u=x.diffed)&&u(t),i}function ge(e,t){if(e&&e.nodeType==8&&e.data.startsWith("$s"))for(var n=1;e=e.nextSibling;){if(e.nodeType==8){if(e.data.startsWith("$s"))n++;else if(e.data.startsWith("/$s")&&!--n)return e}t&&t.push(e)}}function at(e){e&&(e.__c&&(e.__c.__g|=4),e.__k&&e.__k.some(at))}function rt(e,t,n){for(var s=0;s<n.length;)Me(n[s++],n[s++],n[s++]);x.__c&&x.__c(t,e),e.some(function(a){try{e=a.__h,a.__h=[],e.some(function(o){o.call(a)})}catch(o){x.__e(o,a.__v)}})}function Jt(e,t,n,s,a,o,r,i,d,_){var u,h,$,c,f,S,g,y,p=n.props||be,m=t.props,v=t.type;if(v=="svg"?a="http://www.w3.org/2000/svg":v=="math"?a="http://www.w3.org/1998/Math/MathML":a||(a="http://www.w3.org/1999/xhtml"),o){for(u=0;u<o.length;u++)if((f=o[u])&&(v?f.localName==v:f.nodeType==3)){e=f,o[u]=null;break}}if(!e){if(y=_.ownerDocument||document,!v)return y.createTextNode(m);e=y.createElementNS(a,v,m.is?m:_),i&&(x.__m&&x.__m(t,o),i=!1),o=null}if(v){if(_=v=="template"&&e.content||e,o=v=="textarea"&&m.defaultValue!=null?null:o&&Ne.call(_.childNodes),!i&&o)for(p={},u=0;u<e.attributes.length;u++)p[(f=e.attributes[u]).name]=f.value;for(u in p)f=p[u],u=="dangerouslySetInnerHTML"?$=f:u=="children"||u in m||u=="value"&&"defaultValue"in m||u=="checked"&&"defaultChecked"in m||fe(e,u,null,f,a);for(u in m)f=m[u],u=="children"?c=f:u=="dangerouslySetInnerHTML"?h=f:u=="value"?S=f:u=="checked"?g=f:i&&typeof f!="function"||p[u]===f||fe(e,u,f,p[u],a);h?(i||$&&(h.__html==$.__html||h.__html==e.innerHTML)||(e.innerHTML=h.__html),t.__k=[]):($&&(e.textContent=""),(v=="foreignObject"||a=="http://www.w3.org/1998/Math/MathML"&&Ot.test(v))&&(a="http://www.w3.org/1999/xhtml"),st(_,Ae(c)?c:[c],t,n,s,a,o,r,o?o[0]:n.__k&&Q(n,0),i,d),o&&o.some(G)),i&&v!="textarea"||(u="value",v=="progress"&&S==null?e.removeAttribute(u):S==null||S===e[u]&&(v!="progress"||S)||fe(e,u,S,p[u],a),u="checked",g!=null&&g!=e[u]&&fe(e,u,g,p[u],a))}else p===m||i&&e.data==m||(e.data=m);return e}function Me(e,t,n,s){try{typeof e=="function"?t?t.__x=e(t)||1:s&&(s=s.__c||s.__e)&&(t=s.__x)&&(s.__x=null,typeof t=="function"?t():e(null)):e.current=t}catch(a){x.__e(a,n)}}function Ve(e,t,n){var s,a,o,r;if(x.unmount&&x.unmount(e),!(s=e.ref)||s.current&&s.current!=e.__e||Me(s,null,t,e),s=e.__c){if(s.componentWillUnmount)try{s.componentWillUnmount()}catch(i){x.__e(i,t)}s.__P=s.__n=null}if(s=e.__k)for(r=0;r<s.length;r++)s[r]&&Ve(s[r],t,typeof e.type!="function"||n&&!e.props.__P);!n&&(s=e.__c)&&(s=s.__z)&&(a=ge(s,o=[]))&&(s==e.__e&&o.some(G),G(a),G(s)),n||G(e.__e),e.__e=e.__c=e.__=null}function Kt(e,t,n){return this.constructor(e,n)}function it(e,t){var n,s,a,o;x.__&&x.__(e,t),t.nodeType==9&&(t=t.documentElement),s=(n=e&&32&e.__u)?null:t.__k,t.__k=oe(we,{children:[e]}),a=[],o=[],De(t,t.__k,s||be,be,t.namespaceURI,s?null:t.firstChild?Ne.call(t.childNodes):null,a,s?s.__e:t.firstChild,n,o),rt(a,t.__k,o),t.__k.props.children=null}x={__e:function(e,t,n,s){for(var a,o,r;t=t.__;)if((a=t.__c)&&!(1&a.__g)){a.__g|=4;try{if((r=(o=a.constructor)&&o.getDerivedStateFromError)&&a.setState(o.getDerivedStateFromError(e)),a.componentDidCatch&&(a.componentDidCatch(e,s||{}),r=1),r&&8&a.__g)return void(a.__g|=2)}catch(i){e=i}}throw ve=0,e}},Ze=0,Wt=function(e){return e!=null&&e.constructor===ae},me.prototype.setState=function(e,t){var n=this.__s;n&&n!=this.state||(n=this.__s=X({},this.state)),typeof e=="function"&&(e=e(X({},n),this.props)),e&&(X(n,e),this.__v&&(t&&this.__k.push(t),ze(this)))},me.prototype.forceUpdate=function(e){this.__v&&(this.__g|=4,e&&this.__h.push(e),ze(this))},me.prototype.render=we,I=[],ve=0,Ge=function(e,t){return e.__v.__b-t.__v.__b},he=Symbol(),Xe=/(PointerCapture)$|Capture$/i,Re=0,Ce={},qt=0;var ie,R,He,lt,je=Object.is,le=0,mt=[],Be=[],P=x,ct=P.__b,ut=P.__r,dt=P.diffed,pt=P.__c,_t=P.unmount,$t=P.__;function qe(e,t){P.__h&&P.__h(R,e,le||t),le=0;var n=R.__H||(R.__H={__:[],__h:[]});return e>=n.__.length&&n.__.push({}),n.__[e]}function b(e){return le=1,zt(vt,e)}function zt(e,t,n){var s=qe(ie++,2);if(s.t=e,!s.__c&&(s.__=[n?n(t):vt(void 0,t),function(o){var r=(s.__N||s.__)[0],i=s.t(r,o);je(r,i)||(s.__N=[i,s.__[1]],s.__c.setState({}))}],s.__c=R,!R.__f)){R.__f=!0;var a=R.shouldComponentUpdate;R.shouldComponentUpdate=function(o,r,i){var d=this.__H;if(!d)return!0;var _=!1,u=this.props!=o;if(d.__.some(function($){$.__N&&(_=!0,je($.__[0],$.__N[0])||(u=!0))}),a){var h=a.call(this,o,r,i);return _?h||u:h}return!_||u}}return s.__}function M(e,t){var n=qe(ie++,3);!P.__s&&gt(n.__H,t)&&(n.__P=!0,n.__=e,n.u=t,R.__H.__h.push(n))}function J(e){return le=5,ce(function(){return{current:e}},[])}function ce(e,t){var n=qe(ie++,7);return gt(n.__H,t)&&(n.__=e(),n.__H=t),n.__}function ke(e,t){return le=8,ce(function(){return e},t)}function Yt(){var e;do{for(;e=Be.shift();)try{re(e)}catch(n){P.__e(n,{__:(e=e.__P)&&e.__v})}for(;e=mt.shift();){var t=e.__H;if(e.__P&&t)try{t.__h.some(re),t.__h.some(We),t.__h=[]}catch(n){t.__h=[],P.__e(n,e.__v)}}}while(Be.length)}P.__b=function(e){R=null,ct&&ct(e)},P.__=function(e,t){e&&t.__k&&t.__k.__m&&(e.__m=t.__k.__m),$t&&$t(e,t)},P.__r=function(e){ut&&ut(e),ie=0;var t=(R=e.__c).__H;t&&(He==R?R.__h=[]:(t.__h.some(re),t.__h.some(We),ie=0),t.__h=[],t.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})),He=R},P.diffed=function(e){dt&&dt(e);var t=e.__c;t&&t.__H&&(t.__H.__h.length&&ht(mt.push(t)),t.__H.__.some(function(n){n.u&&(n.__H=n.u)})),He=R=null},P.__c=function(e,t){t.some(function(n){try{n.__h.some(re),n.__h=n.__h.filter(function(s){return!s.__||We(s)})}catch(s){n.__h=[function(){throw s}]}}),pt&&pt(e,t)},P.unmount=function(e){_t&&_t(e);var t,n,s=e.__c;s&&s.__H&&(s.__H.__.some(function(a){try{if(a.__P&&a.__c){if(n===void 0){for(n=e.__;n&&(!n.__c||!n.__c.__P);)n=n.__;n=n&&n.__c}a.__P=n,ht(Be.push(a))}else re(a)}catch(o){t=o}}),s.__H=void 0,t&&P.__e(t,s.__v))};var ft=typeof requestAnimationFrame=="function";function Zt(e){var t,n=function(){clearTimeout(s),ft&&cancelAnimationFrame(t),setTimeout(e)},s=setTimeout(n,35);ft&&(t=requestAnimationFrame(n))}function ht(e){e!=1&&lt==P.requestAnimationFrame||((lt=P.requestAnimationFrame)||Zt)(Yt)}function re(e){var t=R,n=e.__c;typeof n=="function"&&(e.__c=void 0,n()),R=t}function We(e){var t=R;e.__c=e.__(),R=t}function gt(e,t){return!e||e.length!=t.length||t.some(function(n,s){return!je(n,e[s])})}function vt(e,t){return typeof t=="function"?t(e):t}var ue=class extends Error{constructor(t,n,s){super(s),this.status=t,this.code=n}},bt="";function Oe(e){bt=e||""}async function yt(e){let t=null,n=await e.text();if(n)try{t=JSON.parse(n)}catch{t=null}if(!e.ok){let s=t&&t.error||{},a=s.message||n.trim()||e.statusText||"request failed";throw new ue(e.status,s.code||String(e.status),a)}return t}async function O(e){let t=await fetch(e,{credentials:"same-origin",headers:{Accept:"application/json"}});return yt(t)}async function de(e,t){let n=await fetch(e,{method:"POST",credentials:"same-origin",headers:{Accept:"application/json","Content-Type":"application/json","X-CSRF-Token":bt},body:JSON.stringify(t===void 0?{}:t)});return yt(n)}var C=encodeURIComponent,V={session:"/api/session",login:"/login",logout:"/logout",list:"/api/v1/schemaversions",events:"/api/v1/events",sv:(e,t)=>`/api/v1/namespaces/${C(e)}/schemaversions/${C(t)}`,preview:(e,t,n)=>`/api/v1/namespaces/${C(e)}/schemaversions/${C(t)}/preview?target=${C(n)}`,action:(e,t,n)=>`/api/v1/namespaces/${C(e)}/schemaversions/${C(t)}/${n}`,run:(e,t)=>`/api/v1/namespaces/${C(e)}/runs/${C(t)}`,runLog:(e,t)=>`/api/v1/namespaces/${C(e)}/runs/${C(t)}/log`,jobLog:(e,t)=>`/api/v1/namespaces/${C(e)}/jobs/${C(t)}/log`},D={list:"/ui/",sv:(e,t)=>`/ui/namespaces/${C(e)}/schemaversions/${C(t)}`,run:(e,t)=>`/ui/namespaces/${C(e)}/runs/${C(t)}`,job:(e,t)=>`/ui/namespaces/${C(e)}/jobs/${C(t)}`,apidocs:e=>`/static/apidocs/index.html?spec=${C(e)}`};var te=null;function wt(){if(te)return te;let e={source:new EventSource(V.events),state:"connecting",opened:!1,events:new Set,opens:new Set,states:new Set},t=n=>{e.state=n,e.states.forEach(s=>s(n))};e.source.onopen=()=>{t("live"),e.opened&&e.opens.forEach(n=>n()),e.opened=!0},e.source.onerror=()=>t(e.source.readyState===2?"closed":"reconnecting"),e.source.addEventListener("dropped",()=>e.opens.forEach(n=>n()));for(let n of["schemaversion","run"])e.source.addEventListener(n,s=>{let a;try{a=JSON.parse(s.data)}catch{return}e.events.forEach(o=>o(n,a))});return te=e,e}function kt(){te&&te.source.close(),te=null}function Se(e,t){let[n,s]=b(()=>wt().state),a=J({onEvent:e,onOpen:t});return a.current={onEvent:e,onOpen:t},M(()=>{let o=wt(),r=(d,_)=>a.current.onEvent(d,_),i=()=>a.current.onOpen&&a.current.onOpen();return o.events.add(r),o.opens.add(i),o.states.add(s),s(o.state),()=>{o.events.delete(r),o.opens.delete(i),o.states.delete(s)}},[]),n}function St(e){let[t,n]=b([]),[s,a]=b("connecting"),[o,r]=b(0);return M(()=>{if(!e)return;n([]),r(0),a("connecting");let i=new EventSource(e),d=!1,_=[],u=null,h=()=>{u=null;let $=_;_=[],n(c=>c.concat($))};return i.onopen=()=>a("live"),i.addEventListener("line",$=>{let c;try{c=JSON.parse($.data).text}catch{c=$.data}_.push(String(c??"")),u===null&&(u=setTimeout(h,50))}),i.addEventListener("dropped",$=>{let c=0;try{c=Number(JSON.parse($.data).count)||0}catch{return}_.push(Gt(c)),u===null&&(u=setTimeout(h,50)),r(f=>f+c)}),i.addEventListener("end",()=>{d=!0,i.close(),u!==null&&clearTimeout(u),h(),a("ended")}),i.onerror=()=>{d||(i.close(),u!==null&&clearTimeout(u),h(),a("failed"))},()=>{i.close(),u!==null&&clearTimeout(u)}},[e]),{lines:t,state:s,dropped:o}}function Gt(e){return`[schemaop console: ${e} line${e===1?"":"s"} left out here, this page did not keep up]`}function K(e,t){return(e&&e.status&&e.status.conditions||[]).find(s=>s.type===t)||null}function xe(e,t){let n=K(e,t);return!!(n&&n.status==="True")}function F(e){let t=K(e,"Ready"),n=(s,a,o)=>({label:s,tone:a,reason:o&&o.reason||"",message:o&&o.message||""});return xe(e,"Stalled")?n("Stalled","bad",K(e,"Stalled")):xe(e,"Reconciling")?n("Reconciling","busy",K(e,"Reconciling")):xe(e,"ApprovalPending")?n("Waiting for approval","wait",K(e,"ApprovalPending")):t&&t.status==="True"?n("Ready","good",t):t&&t.reason==="Paused"||e&&e.spec&&e.spec.paused?n("Paused","muted",t):t?n("Not ready","wait",t):n("Unknown","muted",null)}function ne(e){let t=K(e,"Drifted");return t?t.status==="True"?{label:"Drifted",tone:"bad",message:t.message||""}:{label:"In sync",tone:"good",message:t.message||""}:{label:"Not checked",tone:"muted",message:""}}function ee(e){let t=e&&e.status&&e.status.plan||null;return xe(e,"ApprovalPending")?!0:!!(t&&t.hash&&t.approved===!1&&e.spec&&e.spec.approval==="Manual")}function U(e){return`${e.metadata.namespace}/${e.metadata.name}`}function z(e){switch(e){case"Succeeded":case"applied":case"Applied":return"good";case"Failed":case"failed":return"bad";case"Running":case"running":return"busy";case"Stopped":return"wait";default:return"muted"}}function pe(e){return e?String(e).slice(0,12):""}function j(e){if(!e)return"";let t=new Date(e);return Number.isNaN(t.getTime())?String(e):t.toISOString().replace("T"," ").replace(/\.\d+Z$/,"Z").replace(/Z$/," UTC")}function Te(e){if(e==null||e==="")return"";let t=Number(e);return Number.isNaN(t)?String(e):t<1e3?`${t} ms`:t<6e4?`${(t/1e3).toFixed(t<1e4?2:1)} s`:`${Math.floor(t/6e4)}m${Math.round(t%6e4/1e3)}s`}function xt(e,t){let n=String(e).split(".").map(Number),s=String(t).split(".").map(Number);for(let a=0;a<Math.max(n.length,s.length);a++){let o=n[a]??-1,r=s[a]??-1;if(o!==r)return o<r?-1:1}return 0}var Lt=function(e,t,n,s){var a;t[0]=0;for(var o=1;o<t.length;o++){var r=t[o++],i=t[o]?(t[0]|=r?1:2,n[t[o++]]):t[++o];r===3?s[0]=i:r===4?s[1]=Object.assign(s[1]||{},i):r===5?(s[1]=s[1]||{})[t[++o]]=i:r===6?s[1][t[++o]]+=i+"":r?(a=e.apply(i,Lt(e,i,n,["",null])),s.push(a),i[0]?t[0]|=2:(t[o-2]=0,t[o]=a)):s.push(i)}return s},Tt=new Map;function Et(e){var t=Tt.get(this);return t||(t=new Map,Tt.set(this,t)),(t=Lt(this,t.get(e)||(t.set(e,t=(function(n){for(var s,a,o=1,r="",i="",d=[0],_=function($){o===1&&($||(r=r.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?d.push(0,$,r):o===3&&($||r)?(d.push(3,$,r),o=2):o===2&&r==="..."&&$?d.push(4,$,0):o===2&&r&&!$?d.push(5,0,!0,r):o>=5&&((r||!$&&o===5)&&(d.push(o,0,r,a),o=6),$&&(d.push(o,$,0,a),o=6)),r=""},u=0;u<n.length;u++){u&&(o===1&&_(),_(u));for(var h=0;h<n[u].length;h++)s=n[u][h],o===1?s==="<"?(_(),d=[d],o=3):r+=s:o===4?r==="--"&&s===">"?(o=1,r=""):r=s+r[0]:i?s===i?i="":r+=s:s==='"'||s==="'"?i=s:s===">"?(_(),o=1):o&&(s==="="?(o=5,a=r,r=""):s==="/"&&(o<5||n[u][h+1]===">")?(_(),o===3&&(d=d[0]),o=d,(d=d[0]).push(2,0,o),o=0):s===" "||s==="	"||s===`
`||s==="\r"?(_(),o=2):r+=s),o===3&&r==="!--"&&(o=4,d=d[0])}return _(),d})(e)),t),arguments,[])).length>1?t:t[0]}var l=Et.bind(et),Fe=new Set;function Ue(e){e!==window.location.pathname+window.location.search&&window.history.pushState(null,"",e),Fe.forEach(t=>t()),window.scrollTo(0,0),requestAnimationFrame(()=>{let t=document.getElementById("main");t&&t.focus({preventScroll:!0})})}function Ct(){let[e,t]=b(window.location.pathname);return M(()=>{let n=()=>t(window.location.pathname);return Fe.add(n),window.addEventListener("popstate",n),()=>{Fe.delete(n),window.removeEventListener("popstate",n)}},[]),e}function T({href:e,children:t,...n}){return l`<a href=${e} onClick=${a=>{a.button!==0||a.metaKey||a.ctrlKey||a.shiftKey||a.altKey||(a.preventDefault(),Ue(e))}} ...${n}>${t}</a>`}var Xt={good:"✓",bad:"✕",busy:"↻",wait:"⚠",muted:"•"};function w({tone:e,label:t,testid:n}){return l`<span class=${`badge tone-${e}`} data-testid=${n}
    ><span aria-hidden="true">${Xt[e]||"•"} </span>${t}</span
  >`}function k({title:e,id:t,children:n,actions:s}){return l`<section class="card" aria-labelledby=${t}>
    <div class="card-head">
      <h2 id=${t}>${e}</h2>
      ${s}
    </div>
    ${n}
  </section>`}function L({children:e}){return l`<p class="empty">${e}</p>`}function se({value:e,testid:t}){return e?l`<code class="hash" title=${e} data-testid=${t}>${e}</code>`:l`<span class="muted">none</span>`}var Pt={error:0,warning:1,info:2};function _e({sql:e,findings:t,label:n}){let s=String(e||"").split(`
`),a=new Map,o=[];for(let i of t||[]){let d=Number(i.line);d>=1&&d<=s.length?(a.has(d)||a.set(d,[]),a.get(d).push(i)):o.push(i)}for(let i of a.values())i.sort((d,_)=>(Pt[d.severity]??3)-(Pt[_.severity]??3));let r=i=>l`<div class=${`finding sev-${i.severity||"info"}`} role="note">
    <strong>${(i.severity||"info").toUpperCase()} ${i.code}</strong>
    ${i.column?l` <span class="muted">(column ${i.column})</span>`:""}${`: ${i.message}`}
    ${i.hint?l`<div class="hint">${i.hint}</div>`:""}
    ${i.suppressed?l` <span class="muted">(allowed by a schemaop:allow comment)</span>`:""}
  </div>`;return l`<div class="sql" aria-label=${n||"SQL"}>
    ${o.map(r)}
    <table class="sql-lines">
      <tbody>
        ${s.map((i,d)=>l`<tr key=${d} class=${a.has(d+1)?"flagged":""}>
              <td class="ln" aria-hidden="true">${d+1}</td>
              <td class="code"><code>${i||" "}</code></td>
            </tr>
            ${a.has(d+1)?l`<tr class="finding-row">
                  <td class="ln"></td>
                  <td>${a.get(d+1).map(r)}</td>
                </tr>`:""}`)}
      </tbody>
    </table>
  </div>`}function Le({statement:e,position:t}){let n=String(e||""),s=null;if(t&&t.offset)s=Number(t.offset)-1;else if(t&&t.line){let o=n.split(`
`);s=0;for(let r=0;r<Number(t.line)-1&&r<o.length;r++)s+=o[r].length+1;s+=Math.max(0,Number(t.column||1)-1)}if(s===null||s<0||s>=n.length)return l`<pre class="statement"><code>${n}</code></pre>`;let a=s+1;for(;a<n.length&&/\w/.test(n[a]);)a++;return l`<pre class="statement"><code>${n.slice(0,s)}<mark
    title="the error is here">${n.slice(s,a)}</mark>${n.slice(a)}</code></pre>`}function W(e){return e?e.status?`${e.message} (HTTP ${e.status}${e.code?`, ${e.code}`:""})`:String(e.message||e):""}var Rt={all:{label:"All",test:()=>!0},attention:{label:"Needs attention",test:e=>["bad","wait"].includes(F(e).tone)||ne(e).tone==="bad"||ee(e)},Ready:{label:"Ready",test:e=>F(e).label==="Ready"},Reconciling:{label:"Reconciling",test:e=>F(e).label==="Reconciling"},Stalled:{label:"Stalled",test:e=>F(e).label==="Stalled"},approval:{label:"Waiting for approval",test:ee},drift:{label:"Drifted",test:e=>ne(e).tone==="bad"},paused:{label:"Paused",test:e=>!!(e.spec&&e.spec.paused)}};function Ie({state:e}){let t={live:"Live",connecting:"Connecting…",reconnecting:"Reconnecting…"}[e];return l`<span class=${`live tone-${e==="live"?"good":"wait"}`} role="status" data-testid="live-state"
    ><span aria-hidden="true">●</span> ${t||"Not live: reload the page"}</span
  >`}function At(){let[e,t]=b(null),[n,s]=b([]),[a,o]=b(null),[r,i]=b(""),[d,_]=b("all"),[u,h]=b(""),$=ke(async()=>{try{let p=await O(V.list),m=new Map;for(let v of p.items||[])m.set(U(v),v);t(m),s(p.namespacesDenied||[]),o(null)}catch(p){o(p)}},[]);M(()=>{$()},[$]);let c=Se((p,m)=>{p!=="schemaversion"||!m.object||!m.object.metadata||t(v=>{let B=new Map(v||[]);return m.type==="DELETED"?B.delete(U(m.object)):B.set(U(m.object),m.object),B})},$),f=ce(()=>[...(e||new Map).values()].sort((p,m)=>U(p)<U(m)?-1:U(p)>U(m)?1:0),[e]),S=ce(()=>[...new Set(f.map(p=>p.metadata.namespace))].sort(),[f]),g=r.trim().toLowerCase(),y=f.filter(p=>{if(u&&p.metadata.namespace!==u||!Rt[d].test(p))return!1;if(!g)return!0;let m=F(p),v=p.status||{};return[p.metadata.namespace,p.metadata.name,v.currentVersion,v.targetVersion,m.label,m.reason,m.message].join(" ").toLowerCase().includes(g)});return l`<main id="main" tabindex="-1" class="page">
    <div class="page-head">
      <h1>Databases</h1>
      <${Ie} state=${c} />
    </div>
    <form class="filters" role="search" onSubmit=${p=>p.preventDefault()}>
      <label
        >Search
        <input
          type="search"
          data-testid="search-input"
          placeholder="name, namespace, version, reason…"
          value=${r}
          onInput=${p=>i(p.currentTarget.value)}
      /></label>
      <label
        >Status
        <select
          data-testid="status-filter"
          value=${d}
          onChange=${p=>_(p.currentTarget.value)}
        >
          ${Object.entries(Rt).map(([p,m])=>l`<option value=${p}>${m.label}</option>`)}
        </select></label
      >
      <label
        >Namespace
        <select
          data-testid="namespace-filter"
          value=${u}
          onChange=${p=>h(p.currentTarget.value)}
        >
          <option value="">All namespaces</option>
          ${S.map(p=>l`<option value=${p}>${p}</option>`)}
        </select></label
      >
      <span class="count" aria-live="polite">${y.length} of ${f.length} shown</span>
    </form>
    ${a&&l`<p class="alert" role="alert">Could not list SchemaVersions: ${W(a)}</p>`}
    ${n.length>0&&l`<p class="note">
      You may not list SchemaVersions in: ${n.join(", ")}. Those namespaces are not shown.
    </p>`}
    ${e===null&&!a?l`<p class="empty">Loading…</p>`:l`<${en} rows=${y} total=${f.length} />`}
  </main>`}function en({rows:e,total:t}){return t===0?l`<${L}>No SchemaVersion you may see.</${L}>`:e.length===0?l`<${L}>Nothing matches the search and filters.</${L}>`:l`<table class="grid sv-list">
    <caption class="sr-only">
      SchemaVersions
    </caption>
    <thead>
      <tr>
        <th scope="col">Database</th>
        <th scope="col">Current → target</th>
        <th scope="col">Status</th>
        <th scope="col">Pending</th>
        <th scope="col">Drift</th>
        <th scope="col">Approval</th>
        <th scope="col">Last run</th>
      </tr>
    </thead>
    <tbody>
      ${e.map(n=>l`<${tn} key=${U(n)} sv=${n} />`)}
    </tbody>
  </table>`}function tn({sv:e}){let{namespace:t,name:n}=e.metadata,s=e.status||{},a=F(e),o=ne(e),r=s.lastJob,i=ee(e);return l`<tr data-testid=${`sv-row-${t}-${n}`}>
    <td>
      <${T} href=${D.sv(t,n)} class="strong">${n}</${T}>
      <div class="muted small">${t}</div>
    </td>
    <td class="nowrap">
      <span class="version">${s.currentVersion||"none"}</span>
      <span aria-label="to"> → </span>
      <span class="version">${s.targetVersion||e.spec&&e.spec.targetVersion||"?"}</span>
      ${e.spec&&e.spec.paused?l` <span class="tag">paused</span>`:""}
    </td>
    <td class="status-cell">
      <${w} tone=${a.tone} label=${a.label} testid="sv-status" />
      ${a.reason&&l`<span class="reason"> ${a.reason}</span>`}
      ${a.message&&l`<div class="message small">${a.message}</div>`}
    </td>
    <td class="num">${s.pending??""}</td>
    <td><${w} tone=${o.tone} label=${o.label} /></td>
    <td>
      ${i?l`<${w} tone="wait" label="Waiting" />`:l`<span class="muted">${e.spec&&e.spec.approval==="Manual"?"Manual":"Automatic"}</span>`}
    </td>
    <td>
      ${r?l`<${w} tone=${z(r.result)} label=${r.result||"?"} />
            <div class="muted small">${j(r.finishedAt||r.startedAt)}</div>`:l`<span class="muted">none</span>`}
    </td>
  </tr>`}function Nt({ns:e,name:t}){let[n,s]=b(null),[a,o]=b(null),r=J(null),i=ke(async()=>{try{s(await O(V.sv(e,t))),o(null)}catch($){o($)}},[e,t]);M(()=>{s(null),i()},[i]);let d=Se(($,c)=>{let f=c.object||{},S=f.metadata||{};S.namespace!==e||!($==="schemaversion"?S.name===t:(f.spec&&f.spec.schemaVersion)===t)||r.current||(r.current=setTimeout(()=>{r.current=null,i()},500))},i);if(M(()=>()=>r.current&&clearTimeout(r.current),[]),a&&!n)return l`<main id="main" tabindex="-1" class="page">
      <p><${T} href=${D.list}>← All databases</${T}></p>
      <p class="alert" role="alert">Could not read ${e}/${t}: ${W(a)}</p>
    </main>`;if(!n)return l`<main id="main" tabindex="-1" class="page"><p class="empty">Loading…</p></main>`;let _=n.schemaVersion,u=_.status||{},h=F(_);return l`<main id="main" tabindex="-1" class="page">
    <p class="crumbs"><${T} href=${D.list}>← All databases</${T}></p>
    <div class="page-head">
      <h1>${t} <span class="muted ns">in ${e}</span></h1>
      <${Ie} state=${d} />
    </div>
    ${a&&l`<p class="alert" role="alert">Could not refresh: ${W(a)}</p>`}
    <div class="summary card">
      <div>
        <div class="label">Status</div>
        <${w} tone=${h.tone} label=${h.label} testid="sv-status" />
        ${h.reason&&l` <span class="reason">${h.reason}</span>`}
      </div>
      <div>
        <div class="label">Current → target</div>
        <span class="version big">${u.currentVersion||"none"}</span>${" → "}<span
          class="version big"
          >${u.targetVersion||_.spec.targetVersion||"?"}</span
        >${" "}<span class="muted">(spec: ${_.spec.targetVersion||"latest"})</span>
      </div>
      <div>
        <div class="label">Pending steps</div>
        <span class="big">${u.pending??0}</span>
      </div>
      <div>
        <div class="label">Policy</div>
        ${`approval ${_.spec.approval||"Automatic"}, destructive ${_.spec.destructive||"Block"}`}
        ${_.spec.paused?l`, <strong>paused</strong>`:""}
      </div>
      ${h.message&&l`<p class="message wide">${h.message}</p>`}
      ${u.dirty&&l`<p class="alert wide" role="alert">
        The database is dirty: a non-transactional step started and did not finish. Run
        <code>schemaop repair</code>.
      </p>`}
    </div>
    <${nn} data=${n} reload=${i} />
    ${u.failure&&l`<${on} failure=${u.failure} />`}
    ${u.dataMigration&&l`<${an} dm=${u.dataMigration} />`}
    <${rn} sv=${_} migrations=${n.migrations||[]} />
    <${ln} ns=${e} runs=${n.runs||[]} lastJob=${u.lastJob} />
    <${cn} migrations=${n.migrations||[]} />
    <${dn} points=${u.rollbackPoints||[]} />
    <${pn} history=${u.history||[]} />
    <${_n} sv=${_} />
    <${$n} events=${n.events||[]} />
  </main>`}function nn({data:e,reload:t}){let n=e.schemaVersion,{namespace:s,name:a}=n.metadata,o=n.status||{},r=o.plan||{},[i,d]=b(""),[_,u]=b(null),[h,$]=b(""),[c,f]=b(null),[S,g]=b(null),y=J(null),p=(r.steps||[]).length&&r.hash||"",[m,v]=b(p);M(()=>{(!m||!p)&&v(p)},[m,p]);let B=!!(m&&p!==m);M(()=>{let E=A=>{$(A.detail),Z(A.detail),y.current&&(y.current.scrollIntoView({block:"center"}),y.current.focus())};return window.addEventListener("schemaop-rollback",E),()=>window.removeEventListener("schemaop-rollback",E)});let Y=async(E,A,N,Bt)=>{d(E),u(null);try{let Ee=await de(V.action(s,a,A),N);u({ok:!0,text:Bt(Ee)}),await t()}catch(Ee){u({ok:!1,text:`${E} refused: ${W(Ee)}`})}finally{d("")}};async function Z(E){let A=String(E||"").trim();if(!A){u({ok:!1,text:"Enter a version (or latest) to preview."});return}d("Preview"),u(null),f(null);try{let N=await O(V.preview(s,a,A));f(N),g({target:A,resourceVersion:n.metadata.resourceVersion})}catch(N){u({ok:!1,text:`Preview refused: ${W(N)}`})}finally{d("")}}let q=()=>Y("Set target","target",{targetVersion:S.target,resourceVersion:S.resourceVersion},()=>(f(null),`Target set to ${S.target}.`)),$e=ee(n),H=!!n.spec.paused;return l`<${k} title="Actions" id="actions">
    <div class="actions">
      <div class="action">
        <h3>Approve the plan</h3>
        ${(n.spec.approval||"Automatic")!=="Manual"?l`<p class="muted">Approval is Automatic: plans run without one.</p>`:m?l`<p>
                Approves exactly plan <${se} value=${m} testid="approve-hash" />
                ${B?"":`(${(r.steps||[]).length} step${(r.steps||[]).length===1?"":"s"}, ${r.fromVersion||"none"} → ${r.toVersion||"?"}, listed under Plan).`}
                ${r.approved&&!B?l` <${w} tone="good" label="Approved" />`:""}
              </p>
              ${B&&l`<div class="alert plain" role="alert" data-testid="plan-changed">
                The plan changed since this page showed it: it is now
                ${" "}<${se} value=${p} />. Approving the plan shown
                above is refused.
                <div class="buttons">
                  <button type="button" class="small" onClick=${()=>v(p)}>
                    Review the new plan
                  </button>
                </div>
              </div>`}
              <button
                type="button"
                class="primary"
                data-testid="approve-button"
                disabled=${!!i}
                onClick=${()=>Y("Approve","approve",{planHash:m},E=>`Approved plan ${E&&E.approved||m}.`)}
              >
                Approve plan ${pe(m)}
              </button>
              ${!$e&&!r.approved?l`<p class="muted small">This database does not wait for approval now.</p>`:""}`:l`<p class="muted">No plan to approve.</p>`}
      </div>
      <div class="action">
        <h3>Set target or roll back</h3>
        <form
          class="inline"
          onSubmit=${E=>{E.preventDefault(),Z(h)}}
        >
          <label
            >Target version
            <input
              ref=${y}
              data-testid="target-input"
              value=${h}
              placeholder="e.g. 3 or latest"
              onInput=${E=>$(E.currentTarget.value)}
          /></label>
          <button type="submit" data-testid="preview-button" disabled=${!!i}>
            Preview
          </button>
        </form>
        <p class="muted small">Nothing changes until you confirm the preview.</p>
      </div>
      <div class="action">
        <h3>Run control</h3>
        <div class="buttons">
          <button
            type="button"
            data-testid="retry-button"
            disabled=${!!i}
            onClick=${()=>Y("Retry","retry",{},()=>"Retry requested: the operator retries now.")}
          >
            Retry now
          </button>
          <button
            type="button"
            data-testid="pause-button"
            aria-pressed=${H?"true":"false"}
            disabled=${!!i}
            onClick=${()=>Y(H?"Resume":"Pause","pause",{paused:!H},()=>H?"Resumed.":"Paused.")}
          >
            ${H?"Resume":"Pause"}
          </button>
        </div>
        <p class="muted small">
          ${o.failure&&o.failure.retryAt?`Next retry at ${j(o.failure.retryAt)}.`:"Retry skips the backoff of a failed run once."}
        </p>
      </div>
    </div>
    <div aria-live="polite">
      ${i&&l`<p class="muted">${i}…</p>`}
      ${_&&(_.ok?l`<p class="ok" role="status" data-testid="action-result">${_.text}</p>`:l`<p class="alert" role="alert" data-testid="action-error">${_.text}</p>`)}
    </div>
    ${c&&l`<${sn}
      preview=${c}
      current=${o.currentVersion}
      busy=${i}
      onConfirm=${q}
      onCancel=${()=>f(null)}
    />`}
  </${k}>`}function sn({preview:e,current:t,busy:n,onConfirm:s,onCancel:a}){let o=e.steps||[],r=e.direction==="down";return l`<div class="preview" role="region" aria-label="Preview">
    <h3>
      ${`Preview: ${e.from||t||"none"} → ${e.target} `}<${w}
        tone=${r?"wait":e.direction==="none"?"muted":"busy"}
        label=${r?"roll back (down)":e.direction==="none"?"no change":"up"}
      />
    </h3>
    ${e.refused&&l`<p class="alert" role="alert" data-testid="preview-refused">
      Refused: ${e.refused}
    </p>`}
    <ol class="steps" data-testid="preview-steps">
      ${o.length===0&&l`<li class="muted">No step: the database is already there.</li>`}
      ${o.map(i=>l`<li key=${`${i.direction}-${i.version}`} class="step">
          <div>
            <${w} tone=${i.direction==="down"?"wait":"busy"} label=${i.direction} />
            <strong> ${i.version}</strong> ${i.description}
            ${i.source==="recorded"?l` <span class="tag" title="The SchemaMigration is gone: the down SQL recorded in the database's history runs"
                  >recorded down SQL</span
                >`:""}
          </div>
          ${i.note&&l`<p class="note small" data-testid=${`preview-note-${i.version}`}>${i.note}</p>`}
          ${(i.destructive||[]).length>0&&l`<div class="destructive">
            <strong>Destructive policy:</strong>
            <ul>
              ${i.destructive.map(d=>l`<li>${d}</li>`)}
            </ul>
          </div>`}
          ${i.sql&&l`<details>
            <summary>SQL</summary>
            <${_e} sql=${i.sql} findings=${[]} label=${`SQL of ${i.version}`} />
          </details>`}
        </li>`)}
    </ol>
    <div class="buttons">
      <button
        type="button"
        class=${r?"danger":"primary"}
        data-testid="confirm-button"
        disabled=${!!n||!!e.refused}
        onClick=${s}
      >
        ${r?`Roll back to ${e.target}`:`Set target to ${e.target}`}
      </button>
      <button type="button" onClick=${a}>Cancel</button>
    </div>
  </div>`}function Dt(e){window.dispatchEvent(new CustomEvent("schemaop-rollback",{detail:e}))}function on({failure:e}){return l`<${k} title="Last failure" id="failure">
    <div class="error-box">
      <p>
        <strong>${e.sqlstate?`SQLSTATE ${e.sqlstate}`:"Error"}</strong>
        ${e.version?` in version ${e.version}`:""}
        ${e.line?`, line ${e.line}`:""}${`: ${e.message}`}
      </p>
      ${e.statement&&l`<${Le}
        statement=${e.statement}
        position=${e.position?{offset:e.position}:null}
      />`}
      <p class="muted small">
        ${e.attempts?`${e.attempts} attempt(s). `:""}
        ${e.retryAt?`Next retry at ${j(e.retryAt)}.`:""}
      </p>
    </div>
  </${k}>`}function an({dm:e}){return l`<${k} title="Data migration" id="datamig">
    <p>
      ${`Version ${e.version} (${e.direction}): ${e.progress||`${e.percent??0}%`}, `}
      ${`${e.rowsDone??0} rows in ${e.batchesDone??0} batches`}
      ${e.rowsTotalEstimate?` of about ${e.rowsTotalEstimate} rows`:""}
      ${e.eta?`, about ${e.eta} left`:""}${e.paused?" (paused)":""}.
    </p>
    ${e.percent!==void 0&&l`<progress max="100" value=${e.percent} aria-label="Data migration progress"></progress>`}
    ${e.throttleReason&&l`<p class="note">Slowed down: ${e.throttleReason}</p>`}
    ${e.lastError&&l`<p class="alert">
      Last failed batch: SQLSTATE ${e.lastError.sqlstate}: ${e.lastError.message}
    </p>`}
  </${k}>`}function Qe(e,t){return(e.lint||[]).filter(n=>(n.direction||"up")===t)}function rn({sv:e,migrations:t}){let n=e.status&&e.status.plan||null;if(!n||!(n.steps||[]).length)return l`<${k} title="Plan" id="plan"><${L}>No plan: nothing to do.</${L}></${k}>`;let s=new Map(t.map(o=>[o.spec.version,o])),a=n.lint||{};return l`<${k} title="Plan" id="plan">
    <p>
      ${`${n.fromVersion||"none"} → ${n.toVersion} (${n.direction}), hash `}
      <${se} value=${n.hash} />
      ${" "}${n.approved?l`<${w} tone="good" label="Approved" />`:ee(e)?l`<${w} tone="wait" label="Waiting for approval" />`:""}
      ${a.errors||a.warnings?l` <span class="muted">lint: ${a.errors||0} error(s), ${a.warnings||0} warning(s)</span>`:""}
    </p>
    ${n.truncatedSteps?l`<p class="note">${n.truncatedSteps} more step(s) not listed.</p>`:""}
    <ol class="steps">
      ${n.steps.map(o=>{let r=s.get(o.version),i=r?o.direction==="down"?r.spec.down:r.spec.up:"";return l`<li key=${`${o.direction}-${o.version}`} class="step">
          <div>
            <${w} tone=${o.direction==="down"?"wait":"busy"} label=${o.direction} />
            <strong> ${o.version}</strong> ${o.description}
            ${o.transactional===!1?l` <span class="tag">non-transactional</span>`:""}
            ${o.batched?l` <span class="tag">batched</span>`:""}
            ${o.source==="recorded"?l` <span class="tag">recorded down SQL</span>`:""}
          </div>
          ${i?l`<${_e}
                sql=${i}
                findings=${Qe(r,o.direction)}
                label=${`SQL of ${o.direction} ${o.version}`}
              />`:l`<p class="muted small">
                The SQL of this step is not in a SchemaMigration${o.source==="recorded"?" (it is the down SQL recorded in the database's history)":""}.
              </p>`}
        </li>`})}
    </ol>
  </${k}>`}function ln({ns:e,runs:t,lastJob:n}){let s=n&&n.result==="Running"&&!t.some(a=>a.job===n.name);return l`<${k} title="Runs" id="runs">
    ${s&&l`<p class="note">
      <${w} tone="busy" label="Running" />${` Job ${n.name} since ${j(n.startedAt)}: `}<${T} href=${D.job(e,n.name)} data-testid="live-log-link">follow its log live</${T}>
    </p>`}
    ${t.length===0?l`<${L}>No run recorded yet.</${L}>`:l`<table class="grid">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Outcome</th>
              <th scope="col">Versions</th>
              <th scope="col">Trigger</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Plan</th>
            </tr>
          </thead>
          <tbody>
            ${t.map(a=>l`<tr key=${a.name} data-testid=${`run-row-${a.name}`}>
                <td><${T} href=${D.run(e,a.name)}>${a.name}</${T}>
                  <div class="muted small">attempt ${a.attempt??"?"}</div></td>
                <td>
                  <${w} tone=${z(a.outcome)} label=${a.outcome||"?"} />
                  ${a.outcomeReason&&l`<div class="muted small">${a.outcomeReason}</div>`}
                </td>
                <td class="nowrap">${`${a.fromVersion||"none"} → ${a.toVersion||"?"}`}</td>
                <td>${Je(a.trigger)}</td>
                <td class="nowrap">${j(a.startTime)}</td>
                <td>${a.duration||""}</td>
                <td><code title=${a.planHash}>${pe(a.planHash)}</code></td>
              </tr>`)}
          </tbody>
        </table>`}
  </${k}>`}function Je(e){return e?typeof e=="string"?e:e.kind+(e.message?`: ${e.message}`:""):""}function cn({migrations:e}){let t=[...e].sort((n,s)=>xt(n.spec.version,s.spec.version));return l`<${k} title="Migrations" id="migrations">
    ${t.length===0?l`<${L}>No SchemaMigration references this database.</${L}>`:l`<table class="grid">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Description</th>
              <th scope="col">Applied</th>
              <th scope="col">When</th>
              <th scope="col">Checksum</th>
              <th scope="col">Lint</th>
              <th scope="col"><span class="sr-only">SQL and actions</span></th>
            </tr>
          </thead>
          <tbody>
            ${t.map(n=>l`<${un} key=${n.spec.version} m=${n} />`)}
          </tbody>
        </table>`}
  </${k}>`}function un({m:e}){let[t,n]=b(!1),s=e.status||{},a=e.lint||[],o=a.filter(d=>d.severity==="error").length,r=a.filter(d=>d.severity==="warning").length,i=`sql-${e.spec.version}`;return l`<tr>
      <td class="version">${e.spec.version}</td>
      <td>${e.spec.description||l`<span class="muted">${e.metadata.name}</span>`}</td>
      <td>
        ${s.applied?l`<${w} tone="good" label="Applied" />`:l`<${w} tone="muted" label="Not applied" />`}
      </td>
      <td class="nowrap">${j(s.appliedAt)}</td>
      <td><code title=${s.checksum||""}>${pe(s.checksum)}</code></td>
      <td>
        ${o?l`<${w} tone="bad" label=${`${o} error(s)`} /> `:""}
        ${r?l`<${w} tone="wait" label=${`${r} warning(s)`} />`:""}
        ${!o&&!r?l`<span class="muted">clean</span>`:""}
      </td>
      <td class="nowrap">
        <button type="button" class="small" aria-expanded=${t?"true":"false"} aria-controls=${i}
          onClick=${()=>n(!t)}>${t?"Hide SQL":"Show SQL"}</button>
        ${s.applied?l` <button type="button" class="small" onClick=${()=>Dt(e.spec.version)}>
              Roll back to ${e.spec.version}
            </button>`:""}
      </td>
    </tr>
    ${t&&l`<tr id=${i} class="expanded">
      <td colspan="7">
        <h4>Up</h4>
        <${_e} sql=${e.spec.up} findings=${Qe(e,"up")} label=${`Up SQL of ${e.spec.version}`} />
        <h4>Down</h4>
        ${e.spec.down?l`<${_e} sql=${e.spec.down} findings=${Qe(e,"down")} label=${`Down SQL of ${e.spec.version}`} />`:l`<p class="muted">No down SQL: rolling back past this version is refused.</p>`}
      </td>
    </tr>`}`}function dn({points:e}){return l`<${k} title="Rollback points" id="rollback">
    ${e.length===0?l`<${L}>No rollback point recorded.</${L}>`:l`<table class="grid">
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Version</th>
              <th scope="col">Taken</th>
              <th scope="col">Where</th>
              <th scope="col"><span class="sr-only">Action</span></th>
            </tr>
          </thead>
          <tbody>
            ${e.map((t,n)=>l`<tr key=${n}>
                <td>${t.kind}</td>
                <td class="version">${t.version}</td>
                <td class="nowrap">${j(t.takenAt)}</td>
                <td><code>${t.ref}</code></td>
                <td>
                  ${t.version&&l`<button type="button" class="small" onClick=${()=>Dt(t.version)}>
                    Roll back to ${t.version}
                  </button>`}
                </td>
              </tr>`)}
          </tbody>
        </table>`}
  </${k}>`}function pn({history:e}){return l`<${k} title="History" id="history">
    ${e.length===0?l`<${L}>Nothing applied yet.</${L}>`:l`<table class="grid">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Direction</th>
              <th scope="col">Status</th>
              <th scope="col">Description</th>
              <th scope="col">When</th>
              <th scope="col">Duration</th>
              <th scope="col">Plan</th>
            </tr>
          </thead>
          <tbody>
            ${e.map((t,n)=>l`<tr key=${n}>
                <td class="version">${t.version}</td>
                <td>${t.direction}</td>
                <td><${w} tone=${z(t.status)} label=${t.status||"?"} /></td>
                <td>${t.description}</td>
                <td class="nowrap">${j(t.appliedAt)}</td>
                <td>${t.durationSeconds!==void 0?`${Number(t.durationSeconds).toFixed(2)} s`:""}</td>
                <td><code title=${t.planHash||""}>${pe(t.planHash)}</code></td>
              </tr>`)}
          </tbody>
        </table>`}
  </${k}>`}function _n({sv:e}){let t=ne(e),n=K(e,"Drifted");return l`<${k} title="Drift" id="drift">
    <p>
      <${w} tone=${t.tone} label=${t.label} testid="drift-status" />
      ${n&&n.lastTransitionTime?l` <span class="muted">since ${j(n.lastTransitionTime)}</span>`:""}
    </p>
    ${t.message&&l`<p class="message">${t.message}</p>`}
    <p class="muted small">
      Recorded schema fingerprint: <code>${e.status&&e.status.schemaHash||"none"}</code>
    </p>
  </${k}>`}function $n({events:e}){return l`<${k} title="Events" id="events">
    ${e.length===0?l`<${L}>No Event (Kubernetes keeps them about an hour).</${L}>`:l`<table class="grid">
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Reason</th>
              <th scope="col">Message</th>
              <th scope="col">Count</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            ${e.map((t,n)=>l`<tr key=${n}>
                <td><${w} tone=${t.type==="Warning"?"bad":"muted"} label=${t.type||"Normal"} /></td>
                <td>${t.reason}</td>
                <td class="message">${t.message}</td>
                <td class="num">${t.count??1}</td>
                <td class="nowrap">${j(t.lastTimestamp)}</td>
              </tr>`)}
          </tbody>
        </table>`}
  </${k}>`}function Mt({ns:e,name:t}){let[n,s]=b(null),[a,o]=b(null);if(M(()=>{s(null),O(V.run(e,t)).then(_=>{s(_),o(null)},_=>o(_))},[e,t]),a)return l`<main id="main" tabindex="-1" class="page">
      <p class="alert" role="alert">Could not read run ${e}/${t}: ${W(a)}</p>
    </main>`;if(!n)return l`<main id="main" tabindex="-1" class="page"><p class="empty">Loading…</p></main>`;let r=n.spec||{},i=r.summary||{},d=r.log||{};return l`<main id="main" tabindex="-1" class="page">
    <p class="crumbs">
      <${T} href=${D.list}>All databases</${T}> /
      ${" "}<${T} href=${D.sv(e,r.schemaVersion)}>${r.schemaVersion}</${T}>
    </p>
    <div class="page-head">
      <h1>Run ${t}</h1>
    </div>
    <div class="summary card">
      <div>
        <div class="label">Outcome</div>
        <${w} tone=${z(r.outcome)} label=${r.outcome||"?"} testid="run-outcome" />
        ${r.outcomeReason&&l` <span class="reason">${r.outcomeReason}</span>`}
      </div>
      <div>
        <div class="label">Versions</div>
        <span class="version big">${r.fromVersion||"none"}</span>${" → "}<span
          class="version big"
          >${r.toVersion||"?"}</span
        >
        ${r.target?l`<span class="muted"> (target ${r.target})</span>`:""}
      </div>
      <div>
        <div class="label">Trigger</div>
        ${`${Je(r.trigger)}, attempt ${r.attempt??"?"}`}
      </div>
      <div>
        <div class="label">Time</div>
        ${j(r.startTime)}${r.duration?l` <span class="muted">(${r.duration})</span>`:""}
      </div>
      <div class="wide small">
        Plan <${se} value=${r.planHash} />${"; Job "}<code>${r.job&&r.job.name||"?"}</code>
        ${i.applied!==void 0?l`; ${i.applied} applied, ${i.skipped||0} skipped`:""}
        ${(r.clipped||[]).length?l`; shortened to fit: ${r.clipped.join(", ")}`:""}
      </div>
    </div>
    ${i.error&&l`<${fn} error=${i.error} />`}
    <${hn} summary=${i} error=${i.error} />
    <${Ht} url=${V.runLog(e,t)} record=${d} />
  </main>`}function fn({error:e}){let t=e.position||null;return l`<${k} title="Error" id="run-error-title">
    <div class="error-box" data-testid="run-error" role="alert">
      <p>
        <strong>${e.sqlstate?`SQLSTATE ${e.sqlstate}`:e.kind||"Error"}</strong>
        ${e.version?` in version ${e.version}`:""}
        ${t&&t.line?`, line ${t.line}${t.column?` column ${t.column}`:""}`:""}
        ${t&&!t.line&&t.offset?`, at character ${t.offset}`:""}${": "}<span data-testid="run-error-message">${e.message}</span>
      </p>
      ${e.detail&&l`<p><strong>Detail:</strong> ${e.detail}</p>`}
      ${e.hint&&l`<p><strong>Hint:</strong> ${e.hint}</p>`}
      ${e.statement&&l`<div>
        <div class="label">Statement</div>
        <${Le} statement=${e.statement} position=${t} />
      </div>`}
      <p class="muted small">
        ${e.reason||e.kind}${e.retryable?": retryable, the operator retries with backoff":": not retryable, it needs a fix (a new migration, or a spec change)"}.
      </p>
    </div>
  </${k}>`}function Ke(e){let t=[];return e.lockWaits&&t.push(`${e.lockWaits} lock wait${e.lockWaits===1?"":"s"}`),e.lockWaitMs&&t.push(`${Te(e.lockWaitMs)} waiting`),e.retries&&t.push(`${e.retries} retr${e.retries===1?"y":"ies"}`),t.join(", ")}function hn({summary:e,error:t}){let n=e.steps||[];return l`<${k} title="Steps" id="steps">
    ${n.length===0?l`<${L}>No step ran.</${L}>`:l`<ol class="steps">
          ${n.map((s,a)=>l`<li key=${a} class="step" data-testid=${`run-step-${s.version}`}>
              <div>
                <${w} tone=${z(s.status)} label=${s.status||"?"} />
                <strong> ${s.direction} ${s.version}</strong> ${s.description}
                <span class="muted"
                  >${` — ${Te(s.durationMs)}`}${s.attempts>1?`, ${s.attempts} attempts`:""}${s.transactional===!1?", non-transactional":""}${s.source==="recorded"?", recorded down SQL":""}</span
                >
              </div>
              ${Ke(s)&&l`<p class="small">Step retries: ${Ke(s)}.</p>`}
              ${(s.notices||[]).length>0&&l`<div class="small">
                Notices${s.noticesBatch>1?` (of this step and the next ${s.noticesBatch-1}, sent in one query)`:""}:
                <ul class="notices">
                  ${s.notices.map(o=>l`<li>${Vt(o)}</li>`)}
                </ul>
              </div>`}
              ${s.batches&&l`<p class="small">Batches: ${Object.entries(s.batches).map(([o,r])=>`${o} ${r}`).join(", ")}</p>`}
              <${mn} statements=${s.statements||[]} failed=${t&&t.version===s.version?t:null} />
              ${s.statementsOmitted?l`<p class="muted small">${s.statementsOmitted} more statement(s) left out of the record.</p>`:""}
            </li>`)}
        </ol>`}
    ${e.stepsOmitted?l`<p class="note">${e.stepsOmitted} step(s) left out of the record (the database's history table has them).</p>`:""}
  </${k}>`}function Vt(e){return typeof e=="string"?e:[e.severity,e.sqlstate?`(${e.sqlstate})`:"",e.message].filter(Boolean).join(" ")}function mn({statements:e,failed:t}){return e.length?l`<table class="grid statements" data-testid="run-statements">
    <thead>
      <tr>
        <th scope="col">#</th>
        <th scope="col">Statement</th>
        <th scope="col">Result</th>
        <th scope="col">Rows</th>
        <th scope="col">Duration</th>
        <th scope="col">Lock waits, retries</th>
        <th scope="col">Notices</th>
      </tr>
    </thead>
    <tbody>
      ${e.map((n,s)=>{let a=n.notices||[],o=n.status==="failed"||!!n.error,r=n.error||(o?t:null)||{},i=r.position||null;return l`<tr key=${s} class=${o?"failed":""} data-testid=${`run-statement-${n.index??s+1}`}>
          <td class="num">${n.index??s+1}${n.line?l`<div class="muted small">line ${n.line}</div>`:""}</td>
          <td>
            <code class="stmt">${n.statement||n.sql||""}</code>
            ${o&&l`<div class="alert small">
              ${r.sqlstate?`SQLSTATE ${r.sqlstate}: `:""}${r.message||"failed"}
              ${i&&(i.line||i.offset)?` (${i.line?`line ${i.line}${i.column?` column ${i.column}`:""}`:`character ${i.offset}`})`:""}
            </div>`}
          </td>
          <td class="nowrap">
            ${o?l`<${w} tone="bad" label="failed" />`:n.command?l`<code>${n.command}</code>`:n.status==="ok"?l`<${w} tone="good" label="ok" />`:""}
          </td>
          <td class="num">${n.rows??n.rowsAffected??""}</td>
          <td class="nowrap">${Te(n.durationMs)}</td>
          <td>${Ke(n)}</td>
          <td>
            ${a.map(d=>l`<div class="small">${Vt(d)}</div>`)}
            ${n.noticesOmitted?l`<div class="muted small">${n.noticesOmitted} more</div>`:""}
          </td>
        </tr>`})}
    </tbody>
  </table>`:""}function Ht({url:e,record:t}){let{lines:n,state:s,dropped:a}=St(e),o=J(null),r=J(!0);M(()=>{o.current&&r.current&&(o.current.scrollTop=o.current.scrollHeight)},[n]);let i=s==="failed"&&n.length===0&&t&&t.tail,d=i?t.tail:n.join(`
`),_={connecting:l`<${w} tone="muted" label="Connecting…" />`,live:l`<${w} tone="busy" label="Live" />`,ended:l`<${w} tone="good" label="Complete" />`,failed:l`<${w} tone="wait" label=${i?"From the run record":"Not available"} />`}[s];return l`<${k} title="Log" id="log" actions=${l`<span data-testid="log-state">${_}</span>`}>
    ${t&&t.clipped?l`<p class="note">Only the end of the log is kept.</p>`:""}
    ${a>0?l`<p class="note" role="status" data-testid="log-dropped">
          ${a} line${a===1?" was":"s were"} left out of this live log: the
          page did not read it fast enough (marked where they are missing). The run record keeps
          the end of the log; reload to read it from the start.
        </p>`:""}
    ${t&&t.unavailable&&!d?l`<p class="note">${t.unavailable}</p>`:""}
    ${d||s!=="ended"?l`<pre
          class="log"
          tabindex="0"
          aria-label="Log"
          data-testid="run-log"
          ref=${o}
          onScroll=${u=>{let h=u.currentTarget;r.current=h.scrollTop+h.clientHeight>=h.scrollHeight-8}}
        >${d}</pre>`:l`<${L}>The log is empty.</${L}><pre class="log hidden" data-testid="run-log"></pre>`}
  </${k}>`}function jt({ns:e,job:t}){return l`<main id="main" tabindex="-1" class="page">
    <p class="crumbs"><${T} href=${D.list}>All databases</${T}></p>
    <div class="page-head"><h1>Job ${t}</h1></div>
    <p class="note">
      This Job is running and has no run record yet; its record appears on the database's
      page when it ends.
    </p>
    <${Ht} url=${V.jobLog(e,t)} record=${null} />
  </main>`}function gn(e){let t=e.split("/").filter(Boolean).map(decodeURIComponent);if(t[0]==="ui"&&t.shift(),t[0]==="namespaces"&&t.length===4){let[,n,s,a]=t;if(s==="schemaversions")return l`<${Nt} key=${e} ns=${n} name=${a} />`;if(s==="runs")return l`<${Mt} key=${e} ns=${n} name=${a} />`;if(s==="jobs")return l`<${jt} key=${e} ns=${n} job=${a} />`}return t.length===0?l`<${At} />`:l`<main id="main" tabindex="-1" class="page">
    <h1>Not found</h1>
    <p>There is no page at ${e}. <${T} href=${D.list}>See all databases</${T}>.</p>
  </main>`}function vn({onDone:e,problem:t}){let[n,s]=b(""),[a,o]=b(null),[r,i]=b(!1);return l`<main id="main" tabindex="-1" class="page login">
    <h1>Sign in to the schemaop console</h1>
    <p>
      Paste a Kubernetes bearer token. Every action uses it, so Kubernetes RBAC decides what you
      may see and do. The token stays on the server, in memory; the browser keeps only a session
      cookie.
    </p>
    <form onSubmit=${async _=>{_.preventDefault(),i(!0),o(null);try{await de(V.login,{token:n.trim()}),s(""),e()}catch(u){o(u)}finally{i(!1)}}} class="card">
      <label for="token">Bearer token</label>
      <textarea
        id="token"
        data-testid="login-token"
        rows="4"
        autocomplete="off"
        spellcheck="false"
        value=${n}
        onInput=${_=>s(_.currentTarget.value)}
        required
      ></textarea>
      <p class="muted small">
        For example <code>kubectl create token NAME</code>. Started with
        <code>kubectl schemaop console</code>? Open the one-time address it printed instead.
      </p>
      <button type="submit" class="primary" data-testid="login-submit" disabled=${r}>
        ${r?"Signing in…":"Sign in"}
      </button>
      ${(a||t)&&l`<p class="alert" role="alert" data-testid="login-error">
        ${a?W(a):t}
      </p>`}
    </form>
  </main>`}function bn({session:e,onLogout:t}){return l`<header class="top">
    <a class="skip" href="#main">Skip to content</a>
    <${T} href=${D.list} class="brand">schemaop console</${T}>
    <nav aria-label="Main">
      <${T} href=${D.list}>Databases</${T}>
      <a href=${D.apidocs("console")}>Console API</a>
      <a href=${D.apidocs("sidecar")}>Schema API (sidecar)</a>
    </nav>
    <div class="who">
      <span title=${(e.groups||[]).join(", ")} data-testid="session-user">${e.user}</span>
      ${e.mode==="local"?l` <span class="tag">local</span>`:""}
      ${" "}<button type="button" class="small" onClick=${t}>Sign out</button>
    </div>
  </header>`}function yn(){let[e,t]=b(void 0),[n,s]=b(""),a=Ct(),o=async()=>{try{let i=await O(V.session);Oe(i.csrfToken),t(i)}catch(i){t(null),s(i instanceof ue&&i.status===401?"":W(i))}};M(()=>{o()},[]);let r=async()=>{try{await de(V.logout,{})}catch{}kt(),Oe(""),t(null),Ue(D.list)};return e===void 0?l`<main id="main" tabindex="-1" class="page"><p class="empty">Loading…</p></main>`:e===null?l`<${vn} onDone=${o} problem=${n} />`:l`<${bn} session=${e} onLogout=${r} />${gn(a)}`}it(l`<${yn} />`,document.getElementById("app"));
