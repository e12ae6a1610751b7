var x,Ye,jt,I,Le,ve,Ze,he,Ge,Re,Ee,Wt,ae=Symbol.for("pv"),be={},ye=[],qt=/^m(i|n|o|s|text|space)$/,Ae=Array.isArray,Ne=ye.slice,X=Object.assign;function G(e){e&&e.parentNode&&e.remove()}function Xe(e,t,n){var o,a,s,r={},i=arguments.length;for(s in t)s=="key"?o=t[s]:s=="ref"&&typeof e!="function"?a=t[s]:r[s]=t[s];return i>2&&(r.children=i>3?Ne.call(arguments,2):n),oe(e,r,o,a,null)}function oe(e,t,n,o,a){var s={type:e,props:t,key:n,ref:o,__k:null,__:null,__b:0,__e:null,__c:null,constructor:ae,__v:a||++Ye,__i:-1,__u:0};return!a&&x.vnode&&x.vnode(s),s}function we(e){return e.children}function me(e,t){this.props=e,this.context=t,this.__g=0}function Q(e,t){if(t==null)return e.__&&Q(e.__,e.__i+1);for(var n;t<e.__k.length;t++)if((n=e.__k[t])&&n.__e)return n.__e;return typeof e.type!="function"||e.props.__P?null:Q(e)}function Bt(e){var t,n=e.__v,o=n.__e,a=[],s=[],r=e.__P;r&&((t=X({constructor:ae},n)).__v=n.__v+1,x.vnode&&x.vnode(t),De(r,t,n,e.__n,r.namespaceURI,32&n.__u?[o]:null,a,o||Q(n),32&n.__u,s),t.__v=n.__v,t.__.__k[t.__i]=t,at(a,t,s),n.__=n.__e=null,t.__e!=o&&et(t))}function et(e){if((e=e.__)&&e.__c&&!e.props.__P)return e.__e=null,e.__k.some(function(t){return t&&(e.__e=t.__e)}),et(e)}function Ke(e){(8&e.__g||(e.__g|=8,I.push(e),ve++))&&Le==x.debounceRendering||((Le=x.debounceRendering)||queueMicrotask)(tt)}function tt(){try{for(var e,t=1;I.length;)I.length>t&&I.sort(Ze),e=I.shift(),t=I.length,8&e.__g&&Bt(e)}finally{(ve=I.length)&&(Le||queueMicrotask)(tt)}}function nt(e,t,n,o,a,s,r,i,d,_,c){var m,$,u,f,S,g,y=o.__k||ye,p=t.length;for(d=Ft(n,t,y,d,p),m=0;m<p;m++)(u=n.__k[m])!=null&&($=~u.__i&&y[u.__i]||be,u.__i=m,g=De(e,u,$,a,s,r,i,d,_,c),f=u.__e,($.ref!=u.ref||8&$.__u)&&($.ref&&Me($.ref,null,u,$),u.ref&&c.push(u.ref,u.__c||f,u)),S=S||f,4&u.__u?(d=st(u,d,e,!$.__v),$.__e&&($.__e=null)):typeof u.type=="function"&&g!==void 0?d=g:f&&(d=f.nextSibling),u.__u&=-21);return n.__e=S,d}function Ft(e,t,n,o,a){var s,r,i,d,_,c,m,$,u,f=n.length,S=f,g=0,y=0,p=e.__k=Array(a);for(s=0;s<a;s++)(r=t[s])!=null&&typeof r!="boolean"&&typeof r!="function"?(typeof r!="object"||r.constructor===String?r=p[s]=oe(null,r):Ae(r)?r=p[s]=oe(we,{children:r}):r.constructor===ae&&r.__b?r=p[s]=oe(r.type,r.props,r.key,r.ref,r.__v):p[s]=r,d=s+g,r.__=e,r.__b=e.__b+1,i=null,~(_=r.__i=Ut(r,n,d,S))&&(S--,(i=n[_])&&(i.__u|=2)),i&&i.__v?(r.__u|=16,_==d-1?g--:_==d+1?g++:_!=d&&(_>d?g--:g++,y=1)):(~_||(a>f?g--:a<f&&g++),typeof r.type!="function"&&(r.__u|=4))):p[s]=null;if(y){for(c=[],m=[],s=0;s<a;s++)if((r=p[s])&&16&r.__u){for(g=0,$=c.length;g<$;)c[u=g+$>>1]<r.__i?g=u+1:$=u;c[g]=r.__i,m[s]=g+1}for(g=c.length;s--;)m[s]&&(m[s]==g?g--:p[s].__u|=4)}if(S)for(s=0;s<f;s++)!(i=n[s])||2&i.__u||(i.__e==o&&(o=Q(i)),Ve(i,i));return o}function st(e,t,n,o){var a,s,r,i;if(typeof e.type=="function"){if(e.props.__P)return t;if(a=e.__k)for(s=0;s<a.length;s++)a[s]&&(a[s].__=e,t=st(a[s],t,n,!1));return t}for(t&&!t.parentNode&&(t=Q(e))&&!t.parentNode&&(t=null),r=e.__e,i=t;i&&i.nodeType==8;)i=i.nextSibling;for(r!=i&&(!o&&n.moveBefore&&r.parentNode?n.moveBefore(r,t):n.insertBefore(r,t||null)),t=r;(t=t&&t.nextSibling)&&t.nodeType==8&&!t.data.startsWith("$s"););return t}function Ut(e,t,n,o){var a,s=e.key,r=e.type,i=t[n],d=i&&!(2&i.__u);if(i===null&&s==null||d&&s==i.key&&r==i.type)return n;if(o>(d?1:0)){for(a=n-1;a>=0;a--)if((i=t[a])&&!(2&i.__u)&&s==i.key&&r==i.type)return a;for(a=n+1;a<t.length;a++)if((i=t[a])&&!(2&i.__u)&&s==i.key&&r==i.type)return a}return-1}function ze(e,t,n){n==null&&(n=""),t[0]=="-"?e.setProperty(t,n):e[t]=n}function fe(e,t,n,o,a){var s,r;if(t=="style")if(typeof n=="string")e.style.cssText=n;else{if(typeof o=="string"&&(e.style.cssText=o=""),o)for(t in o)n&&t in n||ze(e.style,t);if(n)for(t in n)o&&n[t]==o[t]||ze(e.style,t,n[t])}else if(t[0]=="o"&&t[1]=="n")typeof n!="function"&&(n=null),typeof o!="function"&&(o=null),(e.__e||(e.__e={}))[t]=n,n&&o||(r=Ee[t]||(Ee[t]=Ot(t)),(e.__a||(e.__a={}))[t]=Re,s=t!=(t=t.replace(Ge,"$1")),(t=t.slice(2))[0]<"a"&&(t=t.toLowerCase()),n?e.addEventListener(t,r,s):e.removeEventListener(t,r,s));else{if(a=="http://www.w3.org/2000/svg")t=t.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(t!="width"&&t!="height"&&t!="href"&&t!="list"&&t!="form"&&t!="tabIndex"&&t!="download"&&t!="rowSpan"&&t!="colSpan"&&t!="role"&&t!="popover"&&t in e)try{return void(e[t]=n??"")}catch{}if(typeof n=="function")return;n==null||n===!1&&t[4]!="-"?e.removeAttribute(t):e.setAttribute(t,t=="popover"&&n==1?"":n)}}function Ot(e){return function(t){var n=this.__e;if(n){if(n=n[e],t[he]==null)t[he]=Re++;else if(t[he]<this.__a[e])return;return n(x.event?x.event(t):t)}}}function De(e,t,n,o,a,s,r,i,d,_){var c,m,$,u,f,S,g,y,p,h,v,W,Y,Z,B,$e,H,C,A=t.type;if(t.constructor!==ae)return null;128&n.__u&&(d=32&n.__u,c=n.__c.__z)&&(t.__u|=d,m=s=[],c.nodeType==8?i=ge(c,s):s.push(c),i=s[0]||i),(c=x.__b)&&c(t);e:if(typeof A=="function"){$=r.length;try{if(y=t.props,p=(c=A.prototype)&&c.render,h=(c=A.contextType)&&o[c.__c],v=c?h?h.props.value:c.__:o,(u=n.__c)?(t.__c=u,2&u.__g&&(u.__g|=1)):(p?t.__c=u=new A(y,v):(t.__c=u=new me(y,v),u.constructor=A,u.render=Qt),h&&h.sub(u),u.state||(u.state={}),u.__n=o,u.__g|=8,u.__h=[],u.__k=[]),p&&(u.__s||(u.__s=u.state),A.getDerivedStateFromProps&&(u.__s==u.state&&(u.__s=X({},u.__s)),X(u.__s,A.getDerivedStateFromProps(y,u.__s)))),f=u.props,S=u.state,u.__v=t,n.__c){if(y!==f&&p&&!A.getDerivedStateFromProps&&u.componentWillReceiveProps&&u.componentWillReceiveProps(y,v),t.__v==n.__v&&!(8&u.__g)||!(4&u.__g)&&u.shouldComponentUpdate&&u.shouldComponentUpdate(y,u.__s,v)===!1){t.__v!=n.__v&&(u.props=y,u.state=u.__s,u.__g&=-9),t.__e=n.__e,t.__k=n.__k,t.__k.some(function(N){N&&(N.__=t)}),ye.push.apply(u.__h,u.__k),u.__k=[],u.__h.length&&r.push(u),i=Q(n);break e}u.componentWillUpdate&&u.componentWillUpdate(y,u.__s,v),p&&u.componentDidUpdate&&u.__h.push(function(){u.componentDidUpdate(f,S,g)})}else p&&!A.getDerivedStateFromProps&&u.componentWillMount&&u.componentWillMount(),p&&u.componentDidMount&&u.__h.push(u.componentDidMount);u.context=v,u.props=y,u.__P=e,u.__g&=-5,W=x.__r,Y=p?25:0;do u.__g&=-9,W&&W(t),c=u.render(u.props,u.state=u.__s,u.context);while(8&u.__g&&++Y<25);p&&(ye.push.apply(u.__h,u.__k),u.__k=[]),u.state=u.__s,u.getChildContext&&(o=X({},o,u.getChildContext())),p&&n.__c&&u.getSnapshotBeforeUpdate&&(g=u.getSnapshotBeforeUpdate(f,S)),Z=c&&c.type===we&&c.key==null?c.props.children:c,y.__P&&(c=i,a=(e=y.__P).namespaceURI,d=s=null,n.props&&n.props.__P!=e&&(n.__k.some(function(N){N&&Ve(N,N)}),n.__k=null),i=n.__k?Q(n,0):null),i=nt(e,Ae(Z)?Z:[Z],t,n,o,a,s,r,i,d,_),y.__P&&(t.__e=null,i=c),t.__u&=-161,m&&m.some(G),u.__h.length&&r.push(u),1&u.__g&&(u.__g&=-4)}catch(N){if(r.length=$,t.__v=null,d||s)if(N&&N.then){if(t.__u|=128|d,s){for(~(H=s.indexOf(i||void 0))||(H=s.length);(C=s[H-1])&&C.nodeType==8;)H--;for(;H<s.length;H++)if(C=s[H])if(s[H]=null,B){if(C==$e)break}else{if(C.nodeType!=8)break;C.data.startsWith("$s")&&($e=ge(B=C))}}if(!B){for(;i&&i.nodeType==8&&i.nextSibling;)i=i.nextSibling;B=i}(c=ge(B=t.__c.__z||(t.__c.__z=B)))?(t.__e=B,i=c):t.__e=i,i=i&&i.nextSibling}else s&&s.some(G);else t.__e=n.__e;t.__k||(t.__k=n.__k||[]),N&&N.then||ot(t),x.__e(N,t,n)}}else i=t.__e=It(n.__e,t,n,o,a,s,r,d,_,e);return(c=x.diffed)&&c(t),i}function ge(e,t){if(e&&e.nodeType==8&&e.data.startsWith("$s"))for(var n=1;e=e.nextSibling;){if(e.nodeType==8){if(e.data.startsWith("$s"))n++;else if(e.data.startsWith("/$s")&&!--n)return e}t&&t.push(e)}}function ot(e){e&&(e.__c&&(e.__c.__g|=4),e.__k&&e.__k.some(ot))}function at(e,t,n){for(var o=0;o<n.length;)Me(n[o++],n[o++],n[o++]);x.__c&&x.__c(t,e),e.some(function(a){try{e=a.__h,a.__h=[],e.some(function(s){s.call(a)})}catch(s){x.__e(s,a.__v)}})}function It(e,t,n,o,a,s,r,i,d,_){var c,m,$,u,f,S,g,y,p=n.props||be,h=t.props,v=t.type;if(v=="svg"?a="http://www.w3.org/2000/svg":v=="math"?a="http://www.w3.org/1998/Math/MathML":a||(a="http://www.w3.org/1999/xhtml"),s){for(c=0;c<s.length;c++)if((f=s[c])&&(v?f.localName==v:f.nodeType==3)){e=f,s[c]=null;break}}if(!e){if(y=_.ownerDocument||document,!v)return y.createTextNode(h);e=y.createElementNS(a,v,h.is?h:_),i&&(x.__m&&x.__m(t,s),i=!1),s=null}if(v){if(_=v=="template"&&e.content||e,s=v=="textarea"&&h.defaultValue!=null?null:s&&Ne.call(_.childNodes),!i&&s)for(p={},c=0;c<e.attributes.length;c++)p[(f=e.attributes[c]).name]=f.value;for(c in p)f=p[c],c=="dangerouslySetInnerHTML"?$=f:c=="children"||c in h||c=="value"&&"defaultValue"in h||c=="checked"&&"defaultChecked"in h||fe(e,c,null,f,a);for(c in h)f=h[c],c=="children"?u=f:c=="dangerouslySetInnerHTML"?m=f:c=="value"?S=f:c=="checked"?g=f:i&&typeof f!="function"||p[c]===f||fe(e,c,f,p[c],a);m?(i||$&&(m.__html==$.__html||m.__html==e.innerHTML)||(e.innerHTML=m.__html),t.__k=[]):($&&(e.textContent=""),(v=="foreignObject"||a=="http://www.w3.org/1998/Math/MathML"&&qt.test(v))&&(a="http://www.w3.org/1999/xhtml"),nt(_,Ae(u)?u:[u],t,n,o,a,s,r,s?s[0]:n.__k&&Q(n,0),i,d),s&&s.some(G)),i&&v!="textarea"||(c="value",v=="progress"&&S==null?e.removeAttribute(c):S==null||S===e[c]&&(v!="progress"||S)||fe(e,c,S,p[c],a),c="checked",g!=null&&g!=e[c]&&fe(e,c,g,p[c],a))}else p===h||i&&e.data==h||(e.data=h);return e}function Me(e,t,n,o){try{typeof e=="function"?t?t.__x=e(t)||1:o&&(o=o.__c||o.__e)&&(t=o.__x)&&(o.__x=null,typeof t=="function"?t():e(null)):e.current=t}catch(a){x.__e(a,n)}}function Ve(e,t,n){var o,a,s,r;if(x.unmount&&x.unmount(e),!(o=e.ref)||o.current&&o.current!=e.__e||Me(o,null,t,e),o=e.__c){if(o.componentWillUnmount)try{o.componentWillUnmount()}catch(i){x.__e(i,t)}o.__P=o.__n=null}if(o=e.__k)for(r=0;r<o.length;r++)o[r]&&Ve(o[r],t,typeof e.type!="function"||n&&!e.props.__P);!n&&(o=e.__c)&&(o=o.__z)&&(a=ge(o,s=[]))&&(o==e.__e&&s.some(G),G(a),G(o)),n||G(e.__e),e.__e=e.__c=e.__=null}function Qt(e,t,n){return this.constructor(e,n)}function rt(e,t){var n,o,a,s;x.__&&x.__(e,t),t.nodeType==9&&(t=t.documentElement),o=(n=e&&32&e.__u)?null:t.__k,t.__k=oe(we,{children:[e]}),a=[],s=[],De(t,t.__k,o||be,be,t.namespaceURI,o?null:t.firstChild?Ne.call(t.childNodes):null,a,o?o.__e:t.firstChild,n,s),at(a,t.__k,s),t.__k.props.children=null}x={__e:function(e,t,n,o){for(var a,s,r;t=t.__;)if((a=t.__c)&&!(1&a.__g)){a.__g|=4;try{if((r=(s=a.constructor)&&s.getDerivedStateFromError)&&a.setState(s.getDerivedStateFromError(e)),a.componentDidCatch&&(a.componentDidCatch(e,o||{}),r=1),r&&8&a.__g)return void(a.__g|=2)}catch(i){e=i}}throw ve=0,e}},Ye=0,jt=function(e){return e!=null&&e.constructor===ae},me.prototype.setState=function(e,t){var n=this.__s;n&&n!=this.state||(n=this.__s=X({},this.state)),typeof e=="function"&&(e=e(X({},n),this.props)),e&&(X(n,e),this.__v&&(t&&this.__k.push(t),Ke(this)))},me.prototype.forceUpdate=function(e){this.__v&&(this.__g|=4,e&&this.__h.push(e),Ke(this))},me.prototype.render=we,I=[],ve=0,Ze=function(e,t){return e.__v.__b-t.__v.__b},he=Symbol(),Ge=/(PointerCapture)$|Capture$/i,Re=0,Ee={},Wt=0;var ie,R,He,it,je=Object.is,le=0,ht=[],We=[],L=x,lt=L.__b,ct=L.__r,ut=L.diffed,dt=L.__c,pt=L.unmount,_t=L.__;function Be(e,t){L.__h&&L.__h(R,e,le||t),le=0;var n=R.__H||(R.__H={__:[],__h:[]});return e>=n.__.length&&n.__.push({}),n.__[e]}function b(e){return le=1,Jt(gt,e)}function Jt(e,t,n){var o=Be(ie++,2);if(o.t=e,!o.__c&&(o.__=[n?n(t):gt(void 0,t),function(s){var r=(o.__N||o.__)[0],i=o.t(r,s);je(r,i)||(o.__N=[i,o.__[1]],o.__c.setState({}))}],o.__c=R,!R.__f)){R.__f=!0;var a=R.shouldComponentUpdate;R.shouldComponentUpdate=function(s,r,i){var d=this.__H;if(!d)return!0;var _=!1,c=this.props!=s;if(d.__.some(function($){$.__N&&(_=!0,je($.__[0],$.__N[0])||(c=!0))}),a){var m=a.call(this,s,r,i);return _?m||c:m}return!_||c}}return o.__}function M(e,t){var n=Be(ie++,3);!L.__s&&mt(n.__H,t)&&(n.__P=!0,n.__=e,n.u=t,R.__H.__h.push(n))}function J(e){return le=5,ce(function(){return{current:e}},[])}function ce(e,t){var n=Be(ie++,7);return mt(n.__H,t)&&(n.__=e(),n.__H=t),n.__}function ke(e,t){return le=8,ce(function(){return e},t)}function Kt(){var e;do{for(;e=We.shift();)try{re(e)}catch(n){L.__e(n,{__:(e=e.__P)&&e.__v})}for(;e=ht.shift();){var t=e.__H;if(e.__P&&t)try{t.__h.some(re),t.__h.some(qe),t.__h=[]}catch(n){t.__h=[],L.__e(n,e.__v)}}}while(We.length)}L.__b=function(e){R=null,lt&&lt(e)},L.__=function(e,t){e&&t.__k&&t.__k.__m&&(e.__m=t.__k.__m),_t&&_t(e,t)},L.__r=function(e){ct&&ct(e),ie=0;var t=(R=e.__c).__H;t&&(He==R?R.__h=[]:(t.__h.some(re),t.__h.some(qe),ie=0),t.__h=[],t.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})),He=R},L.diffed=function(e){ut&&ut(e);var t=e.__c;t&&t.__H&&(t.__H.__h.length&&ft(ht.push(t)),t.__H.__.some(function(n){n.u&&(n.__H=n.u)})),He=R=null},L.__c=function(e,t){t.some(function(n){try{n.__h.some(re),n.__h=n.__h.filter(function(o){return!o.__||qe(o)})}catch(o){n.__h=[function(){throw o}]}}),dt&&dt(e,t)},L.unmount=function(e){pt&&pt(e);var t,n,o=e.__c;o&&o.__H&&(o.__H.__.some(function(a){try{if(a.__P&&a.__c){if(n===void 0){for(n=e.__;n&&(!n.__c||!n.__c.__P);)n=n.__;n=n&&n.__c}a.__P=n,ft(We.push(a))}else re(a)}catch(s){t=s}}),o.__H=void 0,t&&L.__e(t,o.__v))};var $t=typeof requestAnimationFrame=="function";function zt(e){var t,n=function(){clearTimeout(o),$t&&cancelAnimationFrame(t),setTimeout(e)},o=setTimeout(n,35);$t&&(t=requestAnimationFrame(n))}function ft(e){e!=1&&it==L.requestAnimationFrame||((it=L.requestAnimationFrame)||zt)(Kt)}function re(e){var t=R,n=e.__c;typeof n=="function"&&(e.__c=void 0,n()),R=t}function qe(e){var t=R;e.__c=e.__(),R=t}function mt(e,t){return!e||e.length!=t.length||t.some(function(n,o){return!je(n,e[o])})}function gt(e,t){return typeof t=="function"?t(e):t}var ue=class extends Error{constructor(t,n,o){super(o),this.status=t,this.code=n}},vt="";function Fe(e){vt=e||""}async function bt(e){let t=null,n=await e.text();if(n)try{t=JSON.parse(n)}catch{t=null}if(!e.ok){let o=t&&t.error||{},a=o.message||n.trim()||e.statusText||"request failed";throw new ue(e.status,o.code||String(e.status),a)}return t}async function F(e){let t=await fetch(e,{credentials:"same-origin",headers:{Accept:"application/json"}});return bt(t)}async function de(e,t){let n=await fetch(e,{method:"POST",credentials:"same-origin",headers:{Accept:"application/json","Content-Type":"application/json","X-CSRF-Token":vt},body:JSON.stringify(t===void 0?{}:t)});return bt(n)}var E=encodeURIComponent,V={session:"/api/session",login:"/login",logout:"/logout",list:"/api/v1/schemaversions",events:"/api/v1/events",sv:(e,t)=>`/api/v1/namespaces/${E(e)}/schemaversions/${E(t)}`,preview:(e,t,n)=>`/api/v1/namespaces/${E(e)}/schemaversions/${E(t)}/preview?target=${E(n)}`,action:(e,t,n)=>`/api/v1/namespaces/${E(e)}/schemaversions/${E(t)}/${n}`,run:(e,t)=>`/api/v1/namespaces/${E(e)}/runs/${E(t)}`,runLog:(e,t)=>`/api/v1/namespaces/${E(e)}/runs/${E(t)}/log`,jobLog:(e,t)=>`/api/v1/namespaces/${E(e)}/jobs/${E(t)}/log`},D={list:"/ui/",sv:(e,t)=>`/ui/namespaces/${E(e)}/schemaversions/${E(t)}`,run:(e,t)=>`/ui/namespaces/${E(e)}/runs/${E(t)}`,job:(e,t)=>`/ui/namespaces/${E(e)}/jobs/${E(t)}`,apidocs:e=>`/static/apidocs/index.html?spec=${E(e)}`};var te=null;function yt(){if(te)return te;let e={source:new EventSource(V.events),state:"connecting",opened:!1,events:new Set,opens:new Set,states:new Set},t=n=>{e.state=n,e.states.forEach(o=>o(n))};e.source.onopen=()=>{t("live"),e.opened&&e.opens.forEach(n=>n()),e.opened=!0},e.source.onerror=()=>t(e.source.readyState===2?"closed":"reconnecting");for(let n of["schemaversion","run"])e.source.addEventListener(n,o=>{let a;try{a=JSON.parse(o.data)}catch{return}e.events.forEach(s=>s(n,a))});return te=e,e}function wt(){te&&te.source.close(),te=null}function Se(e,t){let[n,o]=b(()=>yt().state),a=J({onEvent:e,onOpen:t});return a.current={onEvent:e,onOpen:t},M(()=>{let s=yt(),r=(d,_)=>a.current.onEvent(d,_),i=()=>a.current.onOpen&&a.current.onOpen();return s.events.add(r),s.opens.add(i),s.states.add(o),o(s.state),()=>{s.events.delete(r),s.opens.delete(i),s.states.delete(o)}},[]),n}function kt(e){let[t,n]=b([]),[o,a]=b("connecting");return M(()=>{if(!e)return;n([]),a("connecting");let s=new EventSource(e),r=!1,i=[],d=null,_=()=>{d=null;let c=i;i=[],n(m=>m.concat(c))};return s.onopen=()=>a("live"),s.addEventListener("line",c=>{let m;try{m=JSON.parse(c.data).text}catch{m=c.data}i.push(String(m??"")),d===null&&(d=setTimeout(_,50))}),s.addEventListener("end",()=>{r=!0,s.close(),d!==null&&clearTimeout(d),_(),a("ended")}),s.onerror=()=>{r||(s.close(),d!==null&&clearTimeout(d),_(),a("failed"))},()=>{s.close(),d!==null&&clearTimeout(d)}},[e]),{lines:t,state:o}}function K(e,t){return(e&&e.status&&e.status.conditions||[]).find(o=>o.type===t)||null}function xe(e,t){let n=K(e,t);return!!(n&&n.status==="True")}function U(e){let t=K(e,"Ready"),n=(o,a,s)=>({label:o,tone:a,reason:s&&s.reason||"",message:s&&s.message||""});return xe(e,"Stalled")?n("Stalled","bad",K(e,"Stalled")):xe(e,"Reconciling")?n("Reconciling","busy",K(e,"Reconciling")):xe(e,"ApprovalPending")?n("Waiting for approval","wait",K(e,"ApprovalPending")):t&&t.status==="True"?n("Ready","good",t):t&&t.reason==="Paused"||e&&e.spec&&e.spec.paused?n("Paused","muted",t):t?n("Not ready","wait",t):n("Unknown","muted",null)}function ne(e){let t=K(e,"Drifted");return t?t.status==="True"?{label:"Drifted",tone:"bad",message:t.message||""}:{label:"In sync",tone:"good",message:t.message||""}:{label:"Not checked",tone:"muted",message:""}}function ee(e){let t=e&&e.status&&e.status.plan||null;return xe(e,"ApprovalPending")?!0:!!(t&&t.hash&&t.approved===!1&&e.spec&&e.spec.approval==="Manual")}function O(e){return`${e.metadata.namespace}/${e.metadata.name}`}function z(e){switch(e){case"Succeeded":case"applied":case"Applied":return"good";case"Failed":case"failed":return"bad";case"Running":case"running":return"busy";case"Stopped":return"wait";default:return"muted"}}function pe(e){return e?String(e).slice(0,12):""}function j(e){if(!e)return"";let t=new Date(e);return Number.isNaN(t.getTime())?String(e):t.toISOString().replace("T"," ").replace(/\.\d+Z$/,"Z").replace(/Z$/," UTC")}function Te(e){if(e==null||e==="")return"";let t=Number(e);return Number.isNaN(t)?String(e):t<1e3?`${t} ms`:t<6e4?`${(t/1e3).toFixed(t<1e4?2:1)} s`:`${Math.floor(t/6e4)}m${Math.round(t%6e4/1e3)}s`}function St(e,t){let n=String(e).split(".").map(Number),o=String(t).split(".").map(Number);for(let a=0;a<Math.max(n.length,o.length);a++){let s=n[a]??-1,r=o[a]??-1;if(s!==r)return s<r?-1:1}return 0}var Tt=function(e,t,n,o){var a;t[0]=0;for(var s=1;s<t.length;s++){var r=t[s++],i=t[s]?(t[0]|=r?1:2,n[t[s++]]):t[++s];r===3?o[0]=i:r===4?o[1]=Object.assign(o[1]||{},i):r===5?(o[1]=o[1]||{})[t[++s]]=i:r===6?o[1][t[++s]]+=i+"":r?(a=e.apply(i,Tt(e,i,n,["",null])),o.push(a),i[0]?t[0]|=2:(t[s-2]=0,t[s]=a)):o.push(i)}return o},xt=new Map;function Pt(e){var t=xt.get(this);return t||(t=new Map,xt.set(this,t)),(t=Tt(this,t.get(e)||(t.set(e,t=(function(n){for(var o,a,s=1,r="",i="",d=[0],_=function($){s===1&&($||(r=r.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?d.push(0,$,r):s===3&&($||r)?(d.push(3,$,r),s=2):s===2&&r==="..."&&$?d.push(4,$,0):s===2&&r&&!$?d.push(5,0,!0,r):s>=5&&((r||!$&&s===5)&&(d.push(s,0,r,a),s=6),$&&(d.push(s,$,0,a),s=6)),r=""},c=0;c<n.length;c++){c&&(s===1&&_(),_(c));for(var m=0;m<n[c].length;m++)o=n[c][m],s===1?o==="<"?(_(),d=[d],s=3):r+=o:s===4?r==="--"&&o===">"?(s=1,r=""):r=o+r[0]:i?o===i?i="":r+=o:o==='"'||o==="'"?i=o:o===">"?(_(),s=1):s&&(o==="="?(s=5,a=r,r=""):o==="/"&&(s<5||n[c][m+1]===">")?(_(),s===3&&(d=d[0]),s=d,(d=d[0]).push(2,0,s),s=0):o===" "||o==="	"||o===`
`||o==="\r"?(_(),s=2):r+=o),s===3&&r==="!--"&&(s=4,d=d[0])}return _(),d})(e)),t),arguments,[])).length>1?t:t[0]}var l=Pt.bind(Xe),Ue=new Set;function Oe(e){e!==window.location.pathname+window.location.search&&window.history.pushState(null,"",e),Ue.forEach(t=>t()),window.scrollTo(0,0),requestAnimationFrame(()=>{let t=document.getElementById("main");t&&t.focus({preventScroll:!0})})}function Lt(){let[e,t]=b(window.location.pathname);return M(()=>{let n=()=>t(window.location.pathname);return Ue.add(n),window.addEventListener("popstate",n),()=>{Ue.delete(n),window.removeEventListener("popstate",n)}},[]),e}function T({href:e,children:t,...n}){return l`<a href=${e} onClick=${a=>{a.button!==0||a.metaKey||a.ctrlKey||a.shiftKey||a.altKey||(a.preventDefault(),Oe(e))}} ...${n}>${t}</a>`}var Yt={good:"✓",bad:"✕",busy:"↻",wait:"⚠",muted:"•"};function k({tone:e,label:t,testid:n}){return l`<span class=${`badge tone-${e}`} data-testid=${n}
    ><span aria-hidden="true">${Yt[e]||"•"} </span>${t}</span
  >`}function w({title:e,id:t,children:n,actions:o}){return l`<section class="card" aria-labelledby=${t}>
    <div class="card-head">
      <h2 id=${t}>${e}</h2>
      ${o}
    </div>
    ${n}
  </section>`}function P({children:e}){return l`<p class="empty">${e}</p>`}function se({value:e,testid:t}){return e?l`<code class="hash" title=${e} data-testid=${t}>${e}</code>`:l`<span class="muted">none</span>`}var Ct={error:0,warning:1,info:2};function _e({sql:e,findings:t,label:n}){let o=String(e||"").split(`
`),a=new Map,s=[];for(let i of t||[]){let d=Number(i.line);d>=1&&d<=o.length?(a.has(d)||a.set(d,[]),a.get(d).push(i)):s.push(i)}for(let i of a.values())i.sort((d,_)=>(Ct[d.severity]??3)-(Ct[_.severity]??3));let r=i=>l`<div class=${`finding sev-${i.severity||"info"}`} role="note">
    <strong>${(i.severity||"info").toUpperCase()} ${i.code}</strong>
    ${i.column?l` <span class="muted">(column ${i.column})</span>`:""}${`: ${i.message}`}
    ${i.hint?l`<div class="hint">${i.hint}</div>`:""}
    ${i.suppressed?l` <span class="muted">(allowed by a schemaop:allow comment)</span>`:""}
  </div>`;return l`<div class="sql" aria-label=${n||"SQL"}>
    ${s.map(r)}
    <table class="sql-lines">
      <tbody>
        ${o.map((i,d)=>l`<tr key=${d} class=${a.has(d+1)?"flagged":""}>
              <td class="ln" aria-hidden="true">${d+1}</td>
              <td class="code"><code>${i||" "}</code></td>
            </tr>
            ${a.has(d+1)?l`<tr class="finding-row">
                  <td class="ln"></td>
                  <td>${a.get(d+1).map(r)}</td>
                </tr>`:""}`)}
      </tbody>
    </table>
  </div>`}function Pe({statement:e,position:t}){let n=String(e||""),o=null;if(t&&t.offset)o=Number(t.offset)-1;else if(t&&t.line){let s=n.split(`
`);o=0;for(let r=0;r<Number(t.line)-1&&r<s.length;r++)o+=s[r].length+1;o+=Math.max(0,Number(t.column||1)-1)}if(o===null||o<0||o>=n.length)return l`<pre class="statement"><code>${n}</code></pre>`;let a=o+1;for(;a<n.length&&/\w/.test(n[a]);)a++;return l`<pre class="statement"><code>${n.slice(0,o)}<mark
    title="the error is here">${n.slice(o,a)}</mark>${n.slice(a)}</code></pre>`}function q(e){return e?e.status?`${e.message} (HTTP ${e.status}${e.code?`, ${e.code}`:""})`:String(e.message||e):""}var Et={all:{label:"All",test:()=>!0},attention:{label:"Needs attention",test:e=>["bad","wait"].includes(U(e).tone)||ne(e).tone==="bad"||ee(e)},Ready:{label:"Ready",test:e=>U(e).label==="Ready"},Reconciling:{label:"Reconciling",test:e=>U(e).label==="Reconciling"},Stalled:{label:"Stalled",test:e=>U(e).label==="Stalled"},approval:{label:"Waiting for approval",test:ee},drift:{label:"Drifted",test:e=>ne(e).tone==="bad"},paused:{label:"Paused",test:e=>!!(e.spec&&e.spec.paused)}};function Ie({state:e}){let t={live:"Live",connecting:"Connecting…",reconnecting:"Reconnecting…"}[e];return l`<span class=${`live tone-${e==="live"?"good":"wait"}`} role="status" data-testid="live-state"
    ><span aria-hidden="true">●</span> ${t||"Not live: reload the page"}</span
  >`}function Rt(){let[e,t]=b(null),[n,o]=b([]),[a,s]=b(null),[r,i]=b(""),[d,_]=b("all"),[c,m]=b(""),$=ke(async()=>{try{let p=await F(V.list),h=new Map;for(let v of p.items||[])h.set(O(v),v);t(h),o(p.namespacesDenied||[]),s(null)}catch(p){s(p)}},[]);M(()=>{$()},[$]);let u=Se((p,h)=>{p!=="schemaversion"||!h.object||!h.object.metadata||t(v=>{let W=new Map(v||[]);return h.type==="DELETED"?W.delete(O(h.object)):W.set(O(h.object),h.object),W})},$),f=ce(()=>[...(e||new Map).values()].sort((p,h)=>O(p)<O(h)?-1:O(p)>O(h)?1:0),[e]),S=ce(()=>[...new Set(f.map(p=>p.metadata.namespace))].sort(),[f]),g=r.trim().toLowerCase(),y=f.filter(p=>{if(c&&p.metadata.namespace!==c||!Et[d].test(p))return!1;if(!g)return!0;let h=U(p),v=p.status||{};return[p.metadata.namespace,p.metadata.name,v.currentVersion,v.targetVersion,h.label,h.reason,h.message].join(" ").toLowerCase().includes(g)});return l`<main id="main" tabindex="-1" class="page">
    <div class="page-head">
      <h1>Databases</h1>
      <${Ie} state=${u} />
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
          ${Object.entries(Et).map(([p,h])=>l`<option value=${p}>${h.label}</option>`)}
        </select></label
      >
      <label
        >Namespace
        <select
          data-testid="namespace-filter"
          value=${c}
          onChange=${p=>m(p.currentTarget.value)}
        >
          <option value="">All namespaces</option>
          ${S.map(p=>l`<option value=${p}>${p}</option>`)}
        </select></label
      >
      <span class="count" aria-live="polite">${y.length} of ${f.length} shown</span>
    </form>
    ${a&&l`<p class="alert" role="alert">Could not list SchemaVersions: ${q(a)}</p>`}
    ${n.length>0&&l`<p class="note">
      You may not list SchemaVersions in: ${n.join(", ")}. Those namespaces are not shown.
    </p>`}
    ${e===null&&!a?l`<p class="empty">Loading…</p>`:l`<${Zt} rows=${y} total=${f.length} />`}
  </main>`}function Zt({rows:e,total:t}){return t===0?l`<${P}>No SchemaVersion you may see.</${P}>`:e.length===0?l`<${P}>Nothing matches the search and filters.</${P}>`:l`<table class="grid sv-list">
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
      ${e.map(n=>l`<${Gt} key=${O(n)} sv=${n} />`)}
    </tbody>
  </table>`}function Gt({sv:e}){let{namespace:t,name:n}=e.metadata,o=e.status||{},a=U(e),s=ne(e),r=o.lastJob,i=ee(e);return l`<tr data-testid=${`sv-row-${t}-${n}`}>
    <td>
      <${T} href=${D.sv(t,n)} class="strong">${n}</${T}>
      <div class="muted small">${t}</div>
    </td>
    <td class="nowrap">
      <span class="version">${o.currentVersion||"none"}</span>
      <span aria-label="to"> → </span>
      <span class="version">${o.targetVersion||e.spec&&e.spec.targetVersion||"?"}</span>
      ${e.spec&&e.spec.paused?l` <span class="tag">paused</span>`:""}
    </td>
    <td class="status-cell">
      <${k} tone=${a.tone} label=${a.label} testid="sv-status" />
      ${a.reason&&l`<span class="reason"> ${a.reason}</span>`}
      ${a.message&&l`<div class="message small">${a.message}</div>`}
    </td>
    <td class="num">${o.pending??""}</td>
    <td><${k} tone=${s.tone} label=${s.label} /></td>
    <td>
      ${i?l`<${k} tone="wait" label="Waiting" />`:l`<span class="muted">${e.spec&&e.spec.approval==="Manual"?"Manual":"Automatic"}</span>`}
    </td>
    <td>
      ${r?l`<${k} tone=${z(r.result)} label=${r.result||"?"} />
            <div class="muted small">${j(r.finishedAt||r.startedAt)}</div>`:l`<span class="muted">none</span>`}
    </td>
  </tr>`}function At({ns:e,name:t}){let[n,o]=b(null),[a,s]=b(null),r=J(null),i=ke(async()=>{try{o(await F(V.sv(e,t))),s(null)}catch($){s($)}},[e,t]);M(()=>{o(null),i()},[i]);let d=Se(($,u)=>{let f=u.object||{},S=f.metadata||{};S.namespace!==e||!($==="schemaversion"?S.name===t:(f.spec&&f.spec.schemaVersion)===t)||r.current||(r.current=setTimeout(()=>{r.current=null,i()},500))},i);if(M(()=>()=>r.current&&clearTimeout(r.current),[]),a&&!n)return l`<main id="main" tabindex="-1" class="page">
      <p><${T} href=${D.list}>← All databases</${T}></p>
      <p class="alert" role="alert">Could not read ${e}/${t}: ${q(a)}</p>
    </main>`;if(!n)return l`<main id="main" tabindex="-1" class="page"><p class="empty">Loading…</p></main>`;let _=n.schemaVersion,c=_.status||{},m=U(_);return l`<main id="main" tabindex="-1" class="page">
    <p class="crumbs"><${T} href=${D.list}>← All databases</${T}></p>
    <div class="page-head">
      <h1>${t} <span class="muted ns">in ${e}</span></h1>
      <${Ie} state=${d} />
    </div>
    ${a&&l`<p class="alert" role="alert">Could not refresh: ${q(a)}</p>`}
    <div class="summary card">
      <div>
        <div class="label">Status</div>
        <${k} tone=${m.tone} label=${m.label} testid="sv-status" />
        ${m.reason&&l` <span class="reason">${m.reason}</span>`}
      </div>
      <div>
        <div class="label">Current → target</div>
        <span class="version big">${c.currentVersion||"none"}</span>${" → "}<span
          class="version big"
          >${c.targetVersion||_.spec.targetVersion||"?"}</span
        >${" "}<span class="muted">(spec: ${_.spec.targetVersion||"latest"})</span>
      </div>
      <div>
        <div class="label">Pending steps</div>
        <span class="big">${c.pending??0}</span>
      </div>
      <div>
        <div class="label">Policy</div>
        ${`approval ${_.spec.approval||"Automatic"}, destructive ${_.spec.destructive||"Block"}`}
        ${_.spec.paused?l`, <strong>paused</strong>`:""}
      </div>
      ${m.message&&l`<p class="message wide">${m.message}</p>`}
      ${c.dirty&&l`<p class="alert wide" role="alert">
        The database is dirty: a non-transactional step started and did not finish. Run
        <code>schemaop repair</code>.
      </p>`}
    </div>
    <${Xt} data=${n} reload=${i} />
    ${c.failure&&l`<${tn} failure=${c.failure} />`}
    ${c.dataMigration&&l`<${nn} dm=${c.dataMigration} />`}
    <${sn} sv=${_} migrations=${n.migrations||[]} />
    <${on} ns=${e} runs=${n.runs||[]} lastJob=${c.lastJob} />
    <${an} migrations=${n.migrations||[]} />
    <${ln} points=${c.rollbackPoints||[]} />
    <${cn} history=${c.history||[]} />
    <${un} sv=${_} />
    <${dn} events=${n.events||[]} />
  </main>`}function Xt({data:e,reload:t}){let n=e.schemaVersion,{namespace:o,name:a}=n.metadata,s=n.status||{},r=s.plan||{},[i,d]=b(""),[_,c]=b(null),[m,$]=b(""),[u,f]=b(null),[S,g]=b(null),y=J(null),p=(r.steps||[]).length&&r.hash||"",[h,v]=b(p);M(()=>{(!h||!p)&&v(p)},[h,p]);let W=!!(h&&p!==h);M(()=>{let C=A=>{$(A.detail),Z(A.detail),y.current&&(y.current.scrollIntoView({block:"center"}),y.current.focus())};return window.addEventListener("schemaop-rollback",C),()=>window.removeEventListener("schemaop-rollback",C)});let Y=async(C,A,N,Ht)=>{d(C),c(null);try{let Ce=await de(V.action(o,a,A),N);c({ok:!0,text:Ht(Ce)}),await t()}catch(Ce){c({ok:!1,text:`${C} refused: ${q(Ce)}`})}finally{d("")}};async function Z(C){let A=String(C||"").trim();if(!A){c({ok:!1,text:"Enter a version (or latest) to preview."});return}d("Preview"),c(null),f(null);try{let N=await F(V.preview(o,a,A));f(N),g({target:A,resourceVersion:n.metadata.resourceVersion})}catch(N){c({ok:!1,text:`Preview refused: ${q(N)}`})}finally{d("")}}let B=()=>Y("Set target","target",{targetVersion:S.target,resourceVersion:S.resourceVersion},()=>(f(null),`Target set to ${S.target}.`)),$e=ee(n),H=!!n.spec.paused;return l`<${w} title="Actions" id="actions">
    <div class="actions">
      <div class="action">
        <h3>Approve the plan</h3>
        ${h?l`<p>
                Approves exactly plan <${se} value=${h} testid="approve-hash" />
                ${W?"":`(${(r.steps||[]).length} step${(r.steps||[]).length===1?"":"s"}, ${r.fromVersion||"none"} → ${r.toVersion||"?"}, listed under Plan).`}
                ${r.approved&&!W?l` <${k} tone="good" label="Approved" />`:""}
              </p>
              ${W&&l`<div class="alert plain" role="alert" data-testid="plan-changed">
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
                onClick=${()=>Y("Approve","approve",{planHash:h},C=>`Approved plan ${C&&C.approved||h}.`)}
              >
                Approve plan ${pe(h)}
              </button>
              ${!$e&&!r.approved?l`<p class="muted small">This database does not wait for approval now.</p>`:""}`:l`<p class="muted">No plan to approve.</p>`}
      </div>
      <div class="action">
        <h3>Set target or roll back</h3>
        <form
          class="inline"
          onSubmit=${C=>{C.preventDefault(),Z(m)}}
        >
          <label
            >Target version
            <input
              ref=${y}
              data-testid="target-input"
              value=${m}
              placeholder="e.g. 3 or latest"
              onInput=${C=>$(C.currentTarget.value)}
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
          ${s.failure&&s.failure.retryAt?`Next retry at ${j(s.failure.retryAt)}.`:"Retry skips the backoff of a failed run once."}
        </p>
      </div>
    </div>
    <div aria-live="polite">
      ${i&&l`<p class="muted">${i}…</p>`}
      ${_&&(_.ok?l`<p class="ok" role="status" data-testid="action-result">${_.text}</p>`:l`<p class="alert" role="alert" data-testid="action-error">${_.text}</p>`)}
    </div>
    ${u&&l`<${en}
      preview=${u}
      current=${s.currentVersion}
      busy=${i}
      onConfirm=${B}
      onCancel=${()=>f(null)}
    />`}
  </${w}>`}function en({preview:e,current:t,busy:n,onConfirm:o,onCancel:a}){let s=e.steps||[],r=e.direction==="down";return l`<div class="preview" role="region" aria-label="Preview">
    <h3>
      ${`Preview: ${e.from||t||"none"} → ${e.target} `}<${k}
        tone=${r?"wait":e.direction==="none"?"muted":"busy"}
        label=${r?"roll back (down)":e.direction==="none"?"no change":"up"}
      />
    </h3>
    ${e.refused&&l`<p class="alert" role="alert" data-testid="preview-refused">
      Refused: ${e.refused}
    </p>`}
    <ol class="steps" data-testid="preview-steps">
      ${s.length===0&&l`<li class="muted">No step: the database is already there.</li>`}
      ${s.map(i=>l`<li key=${`${i.direction}-${i.version}`} class="step">
          <div>
            <${k} tone=${i.direction==="down"?"wait":"busy"} label=${i.direction} />
            <strong> ${i.version}</strong> ${i.description}
            ${i.source==="recorded"?l` <span class="tag" title="The SchemaMigration is gone: the down SQL recorded in the database's history runs"
                  >recorded down SQL</span
                >`:""}
          </div>
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
        onClick=${o}
      >
        ${r?`Roll back to ${e.target}`:`Set target to ${e.target}`}
      </button>
      <button type="button" onClick=${a}>Cancel</button>
    </div>
  </div>`}function Nt(e){window.dispatchEvent(new CustomEvent("schemaop-rollback",{detail:e}))}function tn({failure:e}){return l`<${w} title="Last failure" id="failure">
    <div class="error-box">
      <p>
        <strong>${e.sqlstate?`SQLSTATE ${e.sqlstate}`:"Error"}</strong>
        ${e.version?` in version ${e.version}`:""}
        ${e.line?`, line ${e.line}`:""}${`: ${e.message}`}
      </p>
      ${e.statement&&l`<${Pe}
        statement=${e.statement}
        position=${e.position?{offset:e.position}:null}
      />`}
      <p class="muted small">
        ${e.attempts?`${e.attempts} attempt(s). `:""}
        ${e.retryAt?`Next retry at ${j(e.retryAt)}.`:""}
      </p>
    </div>
  </${w}>`}function nn({dm:e}){return l`<${w} title="Data migration" id="datamig">
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
  </${w}>`}function Qe(e,t){return(e.lint||[]).filter(n=>(n.direction||"up")===t)}function sn({sv:e,migrations:t}){let n=e.status&&e.status.plan||null;if(!n||!(n.steps||[]).length)return l`<${w} title="Plan" id="plan"><${P}>No plan: nothing to do.</${P}></${w}>`;let o=new Map(t.map(s=>[s.spec.version,s])),a=n.lint||{};return l`<${w} title="Plan" id="plan">
    <p>
      ${`${n.fromVersion||"none"} → ${n.toVersion} (${n.direction}), hash `}
      <${se} value=${n.hash} />
      ${" "}${n.approved?l`<${k} tone="good" label="Approved" />`:ee(e)?l`<${k} tone="wait" label="Waiting for approval" />`:""}
      ${a.errors||a.warnings?l` <span class="muted">lint: ${a.errors||0} error(s), ${a.warnings||0} warning(s)</span>`:""}
    </p>
    ${n.truncatedSteps?l`<p class="note">${n.truncatedSteps} more step(s) not listed.</p>`:""}
    <ol class="steps">
      ${n.steps.map(s=>{let r=o.get(s.version),i=r?s.direction==="down"?r.spec.down:r.spec.up:"";return l`<li key=${`${s.direction}-${s.version}`} class="step">
          <div>
            <${k} tone=${s.direction==="down"?"wait":"busy"} label=${s.direction} />
            <strong> ${s.version}</strong> ${s.description}
            ${s.transactional===!1?l` <span class="tag">non-transactional</span>`:""}
            ${s.batched?l` <span class="tag">batched</span>`:""}
            ${s.source==="recorded"?l` <span class="tag">recorded down SQL</span>`:""}
          </div>
          ${i?l`<${_e}
                sql=${i}
                findings=${Qe(r,s.direction)}
                label=${`SQL of ${s.direction} ${s.version}`}
              />`:l`<p class="muted small">
                The SQL of this step is not in a SchemaMigration${s.source==="recorded"?" (it is the down SQL recorded in the database's history)":""}.
              </p>`}
        </li>`})}
    </ol>
  </${w}>`}function on({ns:e,runs:t,lastJob:n}){let o=n&&n.result==="Running"&&!t.some(a=>a.job===n.name);return l`<${w} title="Runs" id="runs">
    ${o&&l`<p class="note">
      <${k} tone="busy" label="Running" />${` Job ${n.name} since ${j(n.startedAt)}: `}<${T} href=${D.job(e,n.name)} data-testid="live-log-link">follow its log live</${T}>
    </p>`}
    ${t.length===0?l`<${P}>No run recorded yet.</${P}>`:l`<table class="grid">
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
                  <${k} tone=${z(a.outcome)} label=${a.outcome||"?"} />
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
  </${w}>`}function Je(e){return e?typeof e=="string"?e:e.kind+(e.message?`: ${e.message}`:""):""}function an({migrations:e}){let t=[...e].sort((n,o)=>St(n.spec.version,o.spec.version));return l`<${w} title="Migrations" id="migrations">
    ${t.length===0?l`<${P}>No SchemaMigration references this database.</${P}>`:l`<table class="grid">
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
            ${t.map(n=>l`<${rn} key=${n.spec.version} m=${n} />`)}
          </tbody>
        </table>`}
  </${w}>`}function rn({m:e}){let[t,n]=b(!1),o=e.status||{},a=e.lint||[],s=a.filter(d=>d.severity==="error").length,r=a.filter(d=>d.severity==="warning").length,i=`sql-${e.spec.version}`;return l`<tr>
      <td class="version">${e.spec.version}</td>
      <td>${e.spec.description||l`<span class="muted">${e.metadata.name}</span>`}</td>
      <td>
        ${o.applied?l`<${k} tone="good" label="Applied" />`:l`<${k} tone="muted" label="Not applied" />`}
      </td>
      <td class="nowrap">${j(o.appliedAt)}</td>
      <td><code title=${o.checksum||""}>${pe(o.checksum)}</code></td>
      <td>
        ${s?l`<${k} tone="bad" label=${`${s} error(s)`} /> `:""}
        ${r?l`<${k} tone="wait" label=${`${r} warning(s)`} />`:""}
        ${!s&&!r?l`<span class="muted">clean</span>`:""}
      </td>
      <td class="nowrap">
        <button type="button" class="small" aria-expanded=${t?"true":"false"} aria-controls=${i}
          onClick=${()=>n(!t)}>${t?"Hide SQL":"Show SQL"}</button>
        ${o.applied?l` <button type="button" class="small" onClick=${()=>Nt(e.spec.version)}>
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
    </tr>`}`}function ln({points:e}){return l`<${w} title="Rollback points" id="rollback">
    ${e.length===0?l`<${P}>No rollback point recorded.</${P}>`:l`<table class="grid">
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
                  ${t.version&&l`<button type="button" class="small" onClick=${()=>Nt(t.version)}>
                    Roll back to ${t.version}
                  </button>`}
                </td>
              </tr>`)}
          </tbody>
        </table>`}
  </${w}>`}function cn({history:e}){return l`<${w} title="History" id="history">
    ${e.length===0?l`<${P}>Nothing applied yet.</${P}>`:l`<table class="grid">
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
                <td><${k} tone=${z(t.status)} label=${t.status||"?"} /></td>
                <td>${t.description}</td>
                <td class="nowrap">${j(t.appliedAt)}</td>
                <td>${t.durationSeconds!==void 0?`${Number(t.durationSeconds).toFixed(2)} s`:""}</td>
                <td><code title=${t.planHash||""}>${pe(t.planHash)}</code></td>
              </tr>`)}
          </tbody>
        </table>`}
  </${w}>`}function un({sv:e}){let t=ne(e),n=K(e,"Drifted");return l`<${w} title="Drift" id="drift">
    <p>
      <${k} tone=${t.tone} label=${t.label} testid="drift-status" />
      ${n&&n.lastTransitionTime?l` <span class="muted">since ${j(n.lastTransitionTime)}</span>`:""}
    </p>
    ${t.message&&l`<p class="message">${t.message}</p>`}
    <p class="muted small">
      Recorded schema fingerprint: <code>${e.status&&e.status.schemaHash||"none"}</code>
    </p>
  </${w}>`}function dn({events:e}){return l`<${w} title="Events" id="events">
    ${e.length===0?l`<${P}>No Event (Kubernetes keeps them about an hour).</${P}>`:l`<table class="grid">
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
                <td><${k} tone=${t.type==="Warning"?"bad":"muted"} label=${t.type||"Normal"} /></td>
                <td>${t.reason}</td>
                <td class="message">${t.message}</td>
                <td class="num">${t.count??1}</td>
                <td class="nowrap">${j(t.lastTimestamp)}</td>
              </tr>`)}
          </tbody>
        </table>`}
  </${w}>`}function Dt({ns:e,name:t}){let[n,o]=b(null),[a,s]=b(null);if(M(()=>{o(null),F(V.run(e,t)).then(_=>{o(_),s(null)},_=>s(_))},[e,t]),a)return l`<main id="main" tabindex="-1" class="page">
      <p class="alert" role="alert">Could not read run ${e}/${t}: ${q(a)}</p>
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
        <${k} tone=${z(r.outcome)} label=${r.outcome||"?"} testid="run-outcome" />
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
    ${i.error&&l`<${pn} error=${i.error} />`}
    <${_n} summary=${i} error=${i.error} />
    <${Mt} url=${V.runLog(e,t)} record=${d} />
  </main>`}function pn({error:e}){let t=e.position||null;return l`<${w} title="Error" id="run-error-title">
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
        <${Pe} statement=${e.statement} position=${t} />
      </div>`}
      <p class="muted small">
        ${e.reason||e.kind}${e.retryable?": retryable, the operator retries with backoff":": not retryable, it needs a fix (a new migration, or a spec change)"}.
      </p>
    </div>
  </${w}>`}function _n({summary:e,error:t}){let n=e.steps||[];return l`<${w} title="Steps" id="steps">
    ${n.length===0?l`<${P}>No step ran.</${P}>`:l`<ol class="steps">
          ${n.map((o,a)=>l`<li key=${a} class="step">
              <div>
                <${k} tone=${z(o.status)} label=${o.status||"?"} />
                <strong> ${o.direction} ${o.version}</strong> ${o.description}
                <span class="muted"
                  >${` — ${Te(o.durationMs)}`}${o.attempts>1?`, ${o.attempts} attempts`:""}${o.transactional===!1?", non-transactional":""}${o.source==="recorded"?", recorded down SQL":""}</span
                >
              </div>
              ${o.batches&&l`<p class="small">Batches: ${Object.entries(o.batches).map(([s,r])=>`${s} ${r}`).join(", ")}</p>`}
              <${fn} statements=${o.statements||[]} failed=${t&&t.version===o.version?t:null} />
            </li>`)}
        </ol>`}
    ${e.stepsOmitted?l`<p class="note">${e.stepsOmitted} step(s) left out of the record (the database's history table has them).</p>`:""}
  </${w}>`}function $n(e){return typeof e=="string"?e:[e.severity,e.sqlstate,e.message].filter(Boolean).join(" ")}function fn({statements:e,failed:t}){return e.length?l`<table class="grid statements">
    <thead>
      <tr>
        <th scope="col">#</th>
        <th scope="col">Statement</th>
        <th scope="col">Duration</th>
        <th scope="col">Rows</th>
        <th scope="col">Lock waits</th>
        <th scope="col">Retries</th>
        <th scope="col">Notices</th>
      </tr>
    </thead>
    <tbody>
      ${e.map((n,o)=>{let a=n.notices||[],s=n.retries??(n.attempts?n.attempts-1:0),r=n.lockWaits??n.lockWaitCount??"",i=n.status==="failed"||!!n.error;return l`<tr key=${o} class=${i?"failed":""}>
          <td class="num">${n.index??o+1}</td>
          <td>
            <code class="stmt">${n.statement||n.sql||""}</code>
            ${i&&l`<div class="alert small">
              ${n.error&&n.error.sqlstate||t&&t.sqlstate?`SQLSTATE ${n.error&&n.error.sqlstate||t.sqlstate}: `:""}${n.error&&n.error.message||t&&t.message||"failed"}
            </div>`}
          </td>
          <td class="nowrap">${Te(n.durationMs)}</td>
          <td class="num">${n.rows??n.rowsAffected??""}</td>
          <td class="nowrap">${r}${n.lockWaitMs?` (${Te(n.lockWaitMs)})`:""}</td>
          <td class="num">${s||""}</td>
          <td>${a.map(d=>l`<div class="small">${$n(d)}</div>`)}</td>
        </tr>`})}
    </tbody>
  </table>`:""}function Mt({url:e,record:t}){let{lines:n,state:o}=kt(e),a=J(null),s=J(!0);M(()=>{a.current&&s.current&&(a.current.scrollTop=a.current.scrollHeight)},[n]);let r=o==="failed"&&n.length===0&&t&&t.tail,i=r?t.tail:n.join(`
`),d={connecting:l`<${k} tone="muted" label="Connecting…" />`,live:l`<${k} tone="busy" label="Live" />`,ended:l`<${k} tone="good" label="Complete" />`,failed:l`<${k} tone="wait" label=${r?"From the run record":"Not available"} />`}[o];return l`<${w} title="Log" id="log" actions=${l`<span data-testid="log-state">${d}</span>`}>
    ${t&&t.clipped?l`<p class="note">Only the end of the log is kept.</p>`:""}
    ${t&&t.unavailable&&!i?l`<p class="note">${t.unavailable}</p>`:""}
    ${i||o!=="ended"?l`<pre
          class="log"
          tabindex="0"
          aria-label="Log"
          data-testid="run-log"
          ref=${a}
          onScroll=${_=>{let c=_.currentTarget;s.current=c.scrollTop+c.clientHeight>=c.scrollHeight-8}}
        >${i}</pre>`:l`<${P}>The log is empty.</${P}><pre class="log hidden" data-testid="run-log"></pre>`}
  </${w}>`}function Vt({ns:e,job:t}){return l`<main id="main" tabindex="-1" class="page">
    <p class="crumbs"><${T} href=${D.list}>All databases</${T}></p>
    <div class="page-head"><h1>Job ${t}</h1></div>
    <p class="note">
      This Job is running and has no run record yet; its record appears on the database's
      page when it ends.
    </p>
    <${Mt} url=${V.jobLog(e,t)} record=${null} />
  </main>`}function hn(e){let t=e.split("/").filter(Boolean).map(decodeURIComponent);if(t[0]==="ui"&&t.shift(),t[0]==="namespaces"&&t.length===4){let[,n,o,a]=t;if(o==="schemaversions")return l`<${At} key=${e} ns=${n} name=${a} />`;if(o==="runs")return l`<${Dt} key=${e} ns=${n} name=${a} />`;if(o==="jobs")return l`<${Vt} key=${e} ns=${n} job=${a} />`}return t.length===0?l`<${Rt} />`:l`<main id="main" tabindex="-1" class="page">
    <h1>Not found</h1>
    <p>There is no page at ${e}. <${T} href=${D.list}>See all databases</${T}>.</p>
  </main>`}function mn({onDone:e,problem:t}){let[n,o]=b(""),[a,s]=b(null),[r,i]=b(!1);return l`<main id="main" tabindex="-1" class="page login">
    <h1>Sign in to the schemaop console</h1>
    <p>
      Paste a Kubernetes bearer token. Every action uses it, so Kubernetes RBAC decides what you
      may see and do. The token stays on the server, in memory; the browser keeps only a session
      cookie.
    </p>
    <form onSubmit=${async _=>{_.preventDefault(),i(!0),s(null);try{await de(V.login,{token:n.trim()}),o(""),e()}catch(c){s(c)}finally{i(!1)}}} class="card">
      <label for="token">Bearer token</label>
      <textarea
        id="token"
        data-testid="login-token"
        rows="4"
        autocomplete="off"
        spellcheck="false"
        value=${n}
        onInput=${_=>o(_.currentTarget.value)}
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
        ${a?q(a):t}
      </p>`}
    </form>
  </main>`}function gn({session:e,onLogout:t}){return l`<header class="top">
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
  </header>`}function vn(){let[e,t]=b(void 0),[n,o]=b(""),a=Lt(),s=async()=>{try{let i=await F(V.session);Fe(i.csrfToken),t(i)}catch(i){t(null),o(i instanceof ue&&i.status===401?"":q(i))}};M(()=>{s()},[]);let r=async()=>{try{await de(V.logout,{})}catch{}wt(),Fe(""),t(null),Oe(D.list)};return e===void 0?l`<main id="main" tabindex="-1" class="page"><p class="empty">Loading…</p></main>`:e===null?l`<${mn} onDone=${s} problem=${n} />`:l`<${gn} session=${e} onLogout=${r} />${hn(a)}`}rt(l`<${vn} />`,document.getElementById("app"));
